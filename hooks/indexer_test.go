package hooks

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestIndexerJoinsWaitingRequests checks that requests for a key whose
// job has not started share that job's read, while a request made after
// the read began gets a read of its own.
func TestIndexerJoinsWaitingRequests(t *testing.T) {
	ix := NewIndexer(nil, nil, 1, testLogger())
	var syncs atomic.Int64
	started := make(chan struct{}, 10)
	release := make(chan struct{})
	ix.sync = func(ctx context.Context, bucket, key string) (string, error) {
		syncs.Add(1)
		started <- struct{}{}
		<-release
		return actionUpdated, nil
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go ix.Run(ctx)

	var answered sync.WaitGroup
	var outcomes atomic.Int64
	submit := func() {
		answered.Add(1)
		err := ix.Submit(ctx, "b", "hot", func(action string, err error) {
			if action == actionUpdated && err == nil {
				outcomes.Add(1)
			}
			answered.Done()
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	// The first request starts a read that blocks.
	submit()
	waitStarted(t, started)

	// Five more arrive while it runs: they form one new job.
	for range 5 {
		submit()
	}
	release <- struct{}{}
	waitStarted(t, started)
	release <- struct{}{}

	answered.Wait()
	if syncs.Load() != 2 {
		t.Fatalf("%d reads for 6 requests, want 2", syncs.Load())
	}
	if outcomes.Load() != 6 {
		t.Fatalf("%d of 6 requests told the outcome", outcomes.Load())
	}
}

func TestIndexerTellsJoinedRequestsOnShutdown(t *testing.T) {
	ix := NewIndexer(nil, nil, 1, testLogger())
	ix.queues[0] = make(chan *syncJob) // no room: Submit waits for a worker
	ctx, cancel := context.WithCancel(context.Background())

	told := make(chan error, 1)
	go func() {
		// Joins the job the first Submit below is trying to queue.
		for {
			ix.mu.Lock()
			_, waiting := ix.waiting[keyRef{"b", "k"}]
			ix.mu.Unlock()
			if waiting {
				break
			}
			time.Sleep(time.Millisecond)
		}
		ix.Submit(ctx, "b", "k", func(_ string, err error) { told <- err })
		cancel()
	}()

	if err := ix.Submit(ctx, "b", "k", nil); err == nil {
		t.Fatal("Submit succeeded without a worker")
	}
	select {
	case err := <-told:
		if err == nil {
			t.Fatal("joined request told of success")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("joined request never told")
	}
}

func waitStarted(t *testing.T, started <-chan struct{}) {
	t.Helper()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("no read started")
	}
}

func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
