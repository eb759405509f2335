package hooks

import (
	"testing"
	"time"
)

func TestEventMeter(t *testing.T) {
	var meter eventMeter
	now := time.Now()
	for i := range 120 {
		meter.add(now.Add(time.Duration(i) * 250 * time.Millisecond))
	}
	// 120 events spread over the last 30 s: 2 per second over a minute.
	meter.mu.Lock()
	meter.second = now.Unix() + 29
	meter.mu.Unlock()
	if got := meter.perSecond(); got < 1.9 || got > 2.1 {
		t.Fatalf("rate %.2f, want about 2 per second", got)
	}
	if !meter.last().Equal(now.Add(119 * 250 * time.Millisecond)) {
		t.Fatalf("last event %v", meter.last())
	}

	// A minute later without events the rate falls to zero.
	meter.mu.Lock()
	meter.advance(now.Unix() + 29 + 61)
	meter.mu.Unlock()
	var total uint64
	for _, count := range meter.slots {
		total += count
	}
	if total != 0 {
		t.Fatalf("%d events left after a quiet minute", total)
	}
}
