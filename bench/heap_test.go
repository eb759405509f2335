package bench

import (
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// peakHeap samples the Go heap in use every interval until the returned
// function is called, which stops sampling and returns the peak in bytes.
// Each sample stops the world briefly: short probes want a short interval,
// long scans a longer one so the sampling does not slow what it measures.
func peakHeap(every time.Duration) (stop func() uint64) {
	var stats runtime.MemStats
	return samplePeak(every, func() uint64 {
		runtime.ReadMemStats(&stats)
		return stats.HeapInuse
	})
}

// peakLiveHeap samples, every interval until the returned function is
// called, the heap the last garbage collection found reachable
// (runtime/metrics' /gc/heap/live:bytes), and returns its peak in bytes.
// Unlike HeapInuse it leaves out garbage waiting for the next cycle, so
// it shows what a scan really holds, whatever the GC pacing. Reading it
// does not stop the world.
func peakLiveHeap(every time.Duration) (stop func() uint64) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	return samplePeak(every, func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	})
}

// samplePeak calls read every interval, on one goroutine, until the
// returned function is called, which returns the largest value read.
func samplePeak(every time.Duration, read func() uint64) (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			if v := read(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-time.After(every):
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak.Load()
	}
}

// liveHeap is the heap found reachable by a fresh garbage collection.
func liveHeap() uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	return sample[0].Value.Uint64()
}
