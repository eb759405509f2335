package web

import (
	"sync"

	"github.com/pocketbase/pocketbase/core"
)

// clientBuffer is how many changes wait for one slow browser before it
// is told to re-fetch instead.
const clientBuffer = 64

// Change is one committed create, update or delete of a watched record.
type Change struct {
	Collection string
	Action     string
	Record     *core.Record

	// Original is the record as it was before an update; nil otherwise.
	Original *core.Record
}

// Change actions.
const (
	ActionCreate = "create"
	ActionUpdate = "update"
	ActionDelete = "delete"
)

// Broker fans changes out to the connected event streams. Publish never
// blocks: a client whose buffer is full loses the change and is marked
// to resync, which re-fetches what its page shows.
type Broker struct {
	mu      sync.Mutex
	clients map[*Subscriber]struct{}
	done    chan struct{}
	closed  bool
}

// Subscriber is one connected stream's mailbox.
type Subscriber struct {
	// Changes delivers changes in commit order.
	Changes chan Change

	// Resync has a value when changes were dropped.
	Resync chan struct{}
}

// NewBroker returns an open broker with no subscribers.
func NewBroker() *Broker {
	return &Broker{clients: map[*Subscriber]struct{}{}, done: make(chan struct{})}
}

// Subscribe adds a mailbox; call Unsubscribe when the stream ends.
func (b *Broker) Subscribe() *Subscriber {
	sub := &Subscriber{Changes: make(chan Change, clientBuffer), Resync: make(chan struct{}, 1)}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.clients[sub] = struct{}{}
	}
	return sub
}

// Unsubscribe removes a mailbox.
func (b *Broker) Unsubscribe(sub *Subscriber) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.clients, sub)
}

// Publish offers a change to every subscriber without waiting.
func (b *Broker) Publish(change Change) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for sub := range b.clients {
		select {
		case sub.Changes <- change:
		default:
			select {
			case sub.Resync <- struct{}{}:
			default:
			}
		}
	}
}

// Len is how many streams are connected.
func (b *Broker) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.clients)
}

// Done is closed when the broker closes.
func (b *Broker) Done() <-chan struct{} { return b.done }

// Close ends every stream; later subscribers get a closed broker.
func (b *Broker) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		clear(b.clients)
		close(b.done)
	}
}

// bindRecordHooks publishes committed changes of the collections the
// pages show. The hooks run after commit, so a page never shows a change
// that was rolled back.
func (s *server) bindRecordHooks() {
	watched := []string{bucketsCollection, objectsCollection, docsCollection}
	publish := func(action string) func(e *core.RecordEvent) error {
		return func(e *core.RecordEvent) error {
			// A copy: the saver may keep changing its record.
			change := Change{Collection: e.Record.Collection().Name, Action: action, Record: e.Record.Clone()}
			if action == ActionUpdate {
				change.Original = e.Record.Original()
			}
			s.broker.Publish(change)
			return e.Next()
		}
	}
	s.app.OnRecordAfterCreateSuccess(watched...).BindFunc(publish(ActionCreate))
	s.app.OnRecordAfterUpdateSuccess(watched...).BindFunc(publish(ActionUpdate))
	s.app.OnRecordAfterDeleteSuccess(watched...).BindFunc(publish(ActionDelete))
}
