package hooks

import (
	"context"
	"sync"
	"time"

	"github.com/arrow-mino/arrow-mino/broker"
)

// rateWindow is the span over which the event rate is averaged.
const rateWindow = time.Minute

// Status is a snapshot of ingest's health, for people watching it.
type Status struct {
	// MinIOOnline says whether MinIO answered its last health check.
	MinIOOnline bool

	// NATSConnected says whether the connection to NATS is up.
	NATSConnected bool

	// Backlog counts events in the stream not yet acknowledged: how far
	// the index trails the bucket events. -1 when it could not be read.
	Backlog int64

	// EventsPerSecond is the rate of handled events over the last minute.
	EventsPerSecond float64

	// LastEvent is when the latest event was handled; zero if none yet.
	LastEvent time.Time
}

// Status reports ingest's health. It asks NATS for the consumer's backlog,
// so it takes a context.
func (s *Service) Status(ctx context.Context) Status {
	status := Status{
		MinIOOnline:     s.store.client.IsOnline(),
		Backlog:         -1,
		EventsPerSecond: s.events.perSecond(),
		LastEvent:       s.events.last(),
	}
	if s.broker == nil {
		return status
	}
	status.NATSConnected = s.broker.Connected()

	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	consumer, err := s.broker.JetStream().Consumer(ctx, broker.StreamName, consumerName)
	if err != nil {
		return status
	}
	info, err := consumer.Info(ctx)
	if err != nil {
		return status
	}
	status.Backlog = int64(info.NumPending) + int64(info.NumAckPending)
	return status
}

// eventMeter counts handled events in one-second slots over rateWindow.
type eventMeter struct {
	mu     sync.Mutex
	slots  [60]uint64
	second int64 // the Unix second of the newest slot
	latest time.Time
}

func (m *eventMeter) add(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.advance(now.Unix())
	m.slots[now.Unix()%int64(len(m.slots))]++
	m.latest = now
}

// advance clears the slots of seconds that passed without events.
func (m *eventMeter) advance(second int64) {
	if second <= m.second {
		return
	}
	for s := max(m.second+1, second-int64(len(m.slots))+1); s <= second; s++ {
		m.slots[s%int64(len(m.slots))] = 0
	}
	m.second = second
}

func (m *eventMeter) perSecond() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.advance(time.Now().Unix())
	var total uint64
	for _, count := range m.slots {
		total += count
	}
	return float64(total) / rateWindow.Seconds()
}

func (m *eventMeter) last() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.latest
}
