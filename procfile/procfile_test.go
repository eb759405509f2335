package procfile

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	entries, err := Parse(strings.NewReader("# comment\n\nminio: .bin/arrow-mino minio\napp: .bin/arrow-mino serve --http 127.0.0.1:8090\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{{"minio", ".bin/arrow-mino minio"}, {"app", ".bin/arrow-mino serve --http 127.0.0.1:8090"}}
	if len(entries) != len(want) || entries[0] != want[0] || entries[1] != want[1] {
		t.Fatalf("got %+v, want %+v", entries, want)
	}

	for _, bad := range []string{"", "# only a comment", "no colon here", ": no name", "name:"} {
		if _, err := Parse(strings.NewReader(bad)); err == nil {
			t.Errorf("Parse(%q) accepted a bad Procfile", bad)
		}
	}
}

// TestRunStopsEveryProcess checks that cancelling stops all processes,
// including one that ignores SIGTERM (killed after the grace period is
// not waited for here: it traps and exits on TERM itself).
func TestRunStopsEveryProcess(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "stopped")
	procfile := filepath.Join(dir, "Procfile")
	content := "ticker: while true; do echo tick; sleep 0.1; done\n" +
		"trapper: trap 'echo bye > " + marker + "; exit 0' TERM; echo ready; while true; do sleep 0.1; done\n"
	if err := os.WriteFile(procfile, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}

	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, procfile, &out) }()

	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "trapper | ready") || !strings.Contains(out.String(), "ticker  | tick") {
		if time.Now().After(deadline) {
			t.Fatalf("processes did not start:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()

	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("trapper was not sent SIGTERM: %v\n%s", err, out.String())
	}
}

func TestRunStopsAllWhenOneExits(t *testing.T) {
	dir := t.TempDir()
	procfile := filepath.Join(dir, "Procfile")
	content := "short: echo done\nlong: sleep 30\n"
	if err := os.WriteFile(procfile, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}

	var out syncBuffer
	started := time.Now()
	err := Run(context.Background(), procfile, &out)
	if err == nil || !strings.Contains(err.Error(), "short exited") {
		t.Fatalf("got %v, want an error naming the process that exited", err)
	}
	if time.Since(started) > 10*time.Second {
		t.Fatalf("the long process was not stopped:\n%s", out.String())
	}
}

type syncBuffer struct {
	mu     sync.Mutex
	buffer bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buffer.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buffer.String()
}
