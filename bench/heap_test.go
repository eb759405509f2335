package bench

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// peakHeap samples the Go heap in use every interval until the returned
// function is called, which stops sampling and returns the peak in bytes.
// Each sample stops the world briefly: short probes want a short interval,
// long scans a longer one so the sampling does not slow what it measures.
func peakHeap(every time.Duration) (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var stats runtime.MemStats
		for {
			runtime.ReadMemStats(&stats)
			if stats.HeapInuse > peak.Load() {
				peak.Store(stats.HeapInuse)
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
