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
	// It is read from the database before the write when a stream is
	// open: a record's own Original is only as old as its last load, so
	// a record saved twice in one process reports its first state.
	Original *core.Record

	// Before is who could see the record before an update or delete;
	// nil for creates and when no stream was open.
	Before *Access
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

	// auth is the user the stream was opened for; nil for none.
	auth *core.Record

	// ended is closed when the user's sessions end: the account was
	// deleted or its tokens revoked.
	ended chan struct{}
}

// Ended is closed when the stream's user may no longer be sent anything.
func (s *Subscriber) Ended() <-chan struct{} { return s.ended }

// NewBroker returns an open broker with no subscribers.
func NewBroker() *Broker {
	return &Broker{clients: map[*Subscriber]struct{}{}, done: make(chan struct{})}
}

// Subscribe adds a mailbox of no user; call Unsubscribe when the stream
// ends.
func (b *Broker) Subscribe() *Subscriber {
	return b.SubscribeAs(nil)
}

// SubscribeAs adds a mailbox of one user, which EndUser can end; call
// Unsubscribe when the stream ends.
func (b *Broker) SubscribeAs(auth *core.Record) *Subscriber {
	sub := &Subscriber{
		Changes: make(chan Change, clientBuffer),
		Resync:  make(chan struct{}, 1),
		auth:    auth,
		ended:   make(chan struct{}),
	}
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

// EndUser ends every stream of the user: it gets no further change and
// its Ended channel closes.
func (b *Broker) EndUser(auth *core.Record) int {
	return b.end(auth, func(*core.Record) bool { return true })
}

// EndRevoked ends the streams of the user that were opened with another
// token key than the record has now: their tokens no longer verify.
func (b *Broker) EndRevoked(auth *core.Record) int {
	return b.end(auth, func(opened *core.Record) bool { return opened.TokenKey() != auth.TokenKey() })
}

func (b *Broker) end(auth *core.Record, ends func(opened *core.Record) bool) int {
	key := authKey(auth)
	b.mu.Lock()
	defer b.mu.Unlock()
	ended := 0
	for sub := range b.clients {
		if sub.auth != nil && authKey(sub.auth) == key && ends(sub.auth) {
			delete(b.clients, sub)
			close(sub.ended)
			ended++
		}
	}
	return ended
}

// Users are the distinct users of the connected streams, by authKey.
func (b *Broker) Users() map[string]*core.Record {
	b.mu.Lock()
	defer b.mu.Unlock()
	users := map[string]*core.Record{}
	for sub := range b.clients {
		users[authKey(sub.auth)] = sub.auth
	}
	return users
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
// that was rolled back. Before an update or delete, who could see the
// record is captured, so that a tab hears only of records its user saw
// or sees.
func (s *server) bindRecordHooks() {
	watched := []string{bucketsCollection, objectsCollection, docsCollection}
	capture := func(e *core.RecordEvent) error {
		access := s.accessOf(e.Record)
		if access != nil {
			s.pending.put(e.Record, access)
		}
		if err := e.Next(); err != nil {
			s.pending.take(e.Record)
			return err
		}
		return nil
	}
	discard := func(e *core.RecordErrorEvent) error {
		s.pending.take(e.Record)
		return e.Next()
	}
	publish := func(action string) func(e *core.RecordEvent) error {
		return func(e *core.RecordEvent) error {
			// A copy: the saver may keep changing its record.
			change := Change{Collection: e.Record.Collection().Name, Action: action, Record: e.Record.Clone()}
			if action != ActionCreate {
				change.Before = s.pending.take(e.Record)
			}
			if action == ActionUpdate {
				change.Original = e.Record.Original()
				if change.Before != nil && change.Before.previous != nil {
					change.Original = change.Before.previous
				}
			}
			s.broker.Publish(change)
			return e.Next()
		}
	}
	s.app.OnRecordUpdate(watched...).BindFunc(capture)
	s.app.OnRecordDelete(watched...).BindFunc(capture)
	s.app.OnRecordAfterUpdateError(watched...).BindFunc(discard)
	s.app.OnRecordAfterDeleteError(watched...).BindFunc(discard)
	s.app.OnRecordAfterCreateSuccess(watched...).BindFunc(publish(ActionCreate))
	s.app.OnRecordAfterUpdateSuccess(watched...).BindFunc(publish(ActionUpdate))
	s.app.OnRecordAfterDeleteSuccess(watched...).BindFunc(publish(ActionDelete))
}

// bindAuthHooks ends the streams of a user whose account is deleted or
// whose tokens are revoked (a new token key, as on a password change):
// a page request with the old cookie is signed out, so its stream must
// stop as well.
func (s *server) bindAuthHooks() {
	logEnded := func(auth *core.Record, why string, streams int) {
		if streams > 0 {
			s.logger.Info("streams ended", "collection", auth.Collection().Name, "id", auth.Id, "reason", why, "streams", streams)
		}
	}
	s.app.OnRecordAfterDeleteSuccess().BindFunc(func(e *core.RecordEvent) error {
		if e.Record.Collection().IsAuth() {
			logEnded(e.Record, "account deleted", s.broker.EndUser(e.Record))
		}
		return e.Next()
	})
	s.app.OnRecordAfterUpdateSuccess().BindFunc(func(e *core.RecordEvent) error {
		if e.Record.Collection().IsAuth() {
			logEnded(e.Record, "tokens revoked", s.broker.EndRevoked(e.Record))
		}
		return e.Next()
	})
}
