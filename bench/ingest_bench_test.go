// Package bench holds arrow-mino's speed and memory benchmarks. Each one
// measures a baseline in the same run and reports ratios against it; run
// them with `make bench`.
package bench

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/arrow-mino/arrow-mino/internal/teststack"
)

const (
	ingestObjects = 5000
	ingestWriters = 16
	ingestSize    = 1024

	// ingestDeadline bounds the whole load: uploads and indexing.
	ingestDeadline = 5 * time.Minute
)

// BenchmarkIngest uploads small objects with concurrent writers to a real
// MinIO and measures, in the same run, MinIO's upload rate, how fast the
// index follows, and how long each object takes from its PUT to its row.
func BenchmarkIngest(b *testing.B) {
	for range b.N {
		runIngest(b)
	}
}

func runIngest(b *testing.B) {
	s := teststack.StartQuiet(b, "bench")
	ctx, cancel := context.WithTimeout(context.Background(), ingestDeadline)
	defer cancel()

	putStarted := make([]time.Time, ingestObjects)
	putReturned := make([]time.Time, ingestObjects)
	payload := bytes.Repeat([]byte("a"), ingestSize)

	// Baseline: the same load into a bucket without notifications, so
	// MinIO alone sets the pace.
	if err := s.S3.MakeBucket(ctx, "plain", minio.MakeBucketOptions{}); err != nil {
		b.Fatal(err)
	}
	plainStarted, plainReturned := make([]time.Time, ingestObjects), make([]time.Time, ingestObjects)
	plainSeconds, err := upload(ctx, s, "plain", payload, plainStarted, plainReturned)
	if err != nil {
		b.Fatalf("upload to the plain bucket: %v", err)
	}

	// The measured load: the watched bucket, indexed as it goes.
	uploadStart := time.Now()
	uploadSeconds, err := upload(ctx, s, "bench", payload, putStarted, putReturned)
	if err != nil {
		b.Fatalf("upload: %v", err)
	}
	uploadDone := uploadStart.Add(time.Duration(uploadSeconds * float64(time.Second)))

	// Indexing: wait for every row, then read when each was committed.
	s.Eventually(ingestDeadline, "every object indexed", func() error {
		values, err := s.Query("SELECT count(*) FROM objects WHERE bucket = 'bench'")
		if err != nil {
			return err
		}
		count, _ := strconv.Atoi(teststack.AsString(values[0][0]))
		if count != ingestObjects {
			return fmt.Errorf("%d of %d indexed", count, ingestObjects)
		}
		return nil
	})
	values, err := s.Query("SELECT key, created FROM objects WHERE bucket = 'bench'")
	if err != nil {
		b.Fatal(err)
	}

	committed := map[string]time.Time{}
	lastRow := time.Time{}
	for _, row := range values {
		when, err := time.Parse(time.RFC3339Nano, teststack.AsString(row[1]))
		if err != nil {
			b.Fatalf("parse created %v: %v", row[1], err)
		}
		committed[teststack.AsString(row[0])] = when
		if when.After(lastRow) {
			lastRow = when
		}
	}

	var sinceReturn, sinceStart []float64
	for i := range ingestObjects {
		when, ok := committed[benchKey(i)]
		if !ok {
			b.Fatalf("no row for %s", benchKey(i))
		}
		sinceReturn = append(sinceReturn, float64(when.Sub(putReturned[i]).Microseconds())/1000)
		sinceStart = append(sinceStart, float64(when.Sub(putStarted[i]).Microseconds())/1000)
	}

	indexSeconds := lastRow.Sub(uploadStart).Seconds()
	plainRate := ingestObjects / plainSeconds
	uploadRate := ingestObjects / uploadSeconds
	indexRate := ingestObjects / indexSeconds

	b.ReportMetric(plainRate, "plain-uploads/s")
	b.ReportMetric(uploadRate, "uploads/s")
	b.ReportMetric(indexRate, "rows/s")
	b.ReportMetric(indexRate/uploadRate, "index/upload")
	b.ReportMetric(percentile(sinceReturn, 50), "p50-ms")
	b.ReportMetric(percentile(sinceReturn, 99), "p99-ms")

	fmt.Printf("\ningest: %d objects of %d B, %d writers, one run\n", ingestObjects, ingestSize, ingestWriters)
	fmt.Printf("  MinIO alone, no events:    %7.0f objects/s  (%.2f s)\n", plainRate, plainSeconds)
	fmt.Printf("  MinIO uploads, indexed:    %7.0f objects/s  (%.2f s; %.2f of MinIO alone)\n", uploadRate, uploadSeconds, uploadRate/plainRate)
	fmt.Printf("  PUT duration p50/p99:      %.1f/%.1f ms alone, %.1f/%.1f ms indexed (the event is in the stream before the PUT returns)\n",
		percentile(durations(plainStarted, plainReturned), 50), percentile(durations(plainStarted, plainReturned), 99),
		percentile(durations(putStarted, putReturned), 50), percentile(durations(putStarted, putReturned), 99))
	fmt.Printf("  rows indexed:              %7.0f rows/s     (%.2f s from the first PUT to the last row)\n", indexRate, indexSeconds)
	fmt.Printf("  indexing / uploading:      %7.2f            (1.00 = keeps pace)\n", indexRate/uploadRate)
	fmt.Printf("  last row after last PUT:   %7.0f ms\n", float64(lastRow.Sub(uploadDone).Microseconds())/1000)
	fmt.Printf("  PUT returned -> row committed: p50 %.1f ms, p99 %.1f ms, max %.1f ms (negative: committed before the client read the reply)\n",
		percentile(sinceReturn, 50), percentile(sinceReturn, 99), percentile(sinceReturn, 100))
	fmt.Printf("  PUT started  -> row committed: p50 %.1f ms, p99 %.1f ms\n",
		percentile(sinceStart, 50), percentile(sinceStart, 99))

	idle := idleLatency(b, s)
	b.ReportMetric(percentile(idle, 50), "idle-p50-ms")
	fmt.Printf("  one writer, %d PUTs %s apart: PUT returned -> row committed p50 %.1f ms, p99 %.1f ms\n\n",
		len(idle), idleGap, percentile(idle, 50), percentile(idle, 99))
}

const (
	idleObjects = 200
	idleGap     = 5 * time.Millisecond
)

// idleLatency measures event-to-row time without load: one writer, a pause
// between PUTs, so nothing queues.
func idleLatency(b *testing.B, s *teststack.Stack) []float64 {
	returned := map[string]time.Time{}
	for i := range idleObjects {
		key := fmt.Sprintf("idle/%03d.bin", i)
		s.Put("bench", key, []byte("x"), minio.PutObjectOptions{})
		returned[key] = time.Now()
		time.Sleep(idleGap)
	}

	var latencies []float64
	s.Eventually(time.Minute, "idle objects indexed", func() error {
		values, err := s.Query("SELECT key, created FROM objects WHERE bucket = 'bench' AND key LIKE 'idle/%'")
		if err != nil {
			return err
		}
		if len(values) != idleObjects {
			return fmt.Errorf("%d of %d indexed", len(values), idleObjects)
		}
		latencies = latencies[:0]
		for _, row := range values {
			when, err := time.Parse(time.RFC3339Nano, teststack.AsString(row[1]))
			if err != nil {
				return err
			}
			latencies = append(latencies, float64(when.Sub(returned[teststack.AsString(row[0])]).Microseconds())/1000)
		}
		return nil
	})
	return latencies
}

// upload puts ingestObjects objects into bucket with ingestWriters
// writers, noting when each PUT started and returned, and returns the
// seconds the whole load took.
func upload(ctx context.Context, s *teststack.Stack, bucket string, payload []byte, started, returned []time.Time) (float64, error) {
	var (
		wg      sync.WaitGroup
		next    = make(chan int)
		failure error
		once    sync.Once
	)
	begin := time.Now()
	for range ingestWriters {
		wg.Go(func() {
			for i := range next {
				started[i] = time.Now()
				_, err := s.S3.PutObject(ctx, bucket, benchKey(i), bytes.NewReader(payload), int64(len(payload)), minio.PutObjectOptions{})
				returned[i] = time.Now()
				if err != nil {
					once.Do(func() { failure = err })
				}
			}
		})
	}
	for i := range ingestObjects {
		next <- i
	}
	close(next)
	wg.Wait()
	return time.Since(begin).Seconds(), failure
}

// durations are the milliseconds between each start and return.
func durations(started, returned []time.Time) []float64 {
	out := make([]float64, len(started))
	for i := range started {
		out[i] = float64(returned[i].Sub(started[i]).Microseconds()) / 1000
	}
	return out
}

func benchKey(i int) string { return fmt.Sprintf("load/%05d.bin", i) }

// percentile is the nearest-rank percentile of values.
func percentile(values []float64, p float64) float64 {
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(rank, len(sorted)-1))]
}
