package web

import (
	"sync"

	"github.com/pocketbase/pocketbase/core"
)

// Access is who could list and view a record just before it was updated
// or deleted, for the users of the streams open then. Once the change is
// committed the rules can no longer be evaluated against the old row, so
// it is captured beforehand: a tab may hear of a change only to a record
// its user could see, before or after.
type Access struct {
	list map[string]bool
	view map[string]bool

	// previous is the record as committed before the change; nil when
	// it was not committed yet.
	previous *core.Record
}

// CouldList says whether the user's list rule showed the record; false
// when unknown.
func (a *Access) CouldList(auth *core.Record) bool {
	return a != nil && a.list[authKey(auth)]
}

// CouldView says whether the user's view rule showed the record; false
// when unknown.
func (a *Access) CouldView(auth *core.Record) bool {
	return a != nil && a.view[authKey(auth)]
}

// authKey names a user across collections; "" is a guest.
func authKey(auth *core.Record) string {
	if auth == nil {
		return ""
	}
	return auth.Collection().Id + "/" + auth.Id
}

// accessOf reads the record as committed and evaluates its list and
// view rules for every user with an open stream: the outer app reads
// outside the saver's transaction, as PocketBase's realtime does for
// deletes. The cost is a lookup by id, and one or two per connected
// user; none when no stream is open.
func (s *server) accessOf(record *core.Record) *Access {
	users := s.broker.Users()
	if len(users) == 0 {
		return nil
	}

	// A record not committed yet (created in the same transaction) was
	// seen by no one.
	collection := record.Collection()
	access := &Access{list: map[string]bool{}, view: map[string]bool{}}
	previous, err := s.app.FindRecordById(collection, record.Id)
	if err != nil {
		return access
	}
	access.previous = previous

	sameRules := collection.ListRule == collection.ViewRule ||
		(collection.ListRule != nil && collection.ViewRule != nil && *collection.ListRule == *collection.ViewRule)
	for key, auth := range users {
		access.list[key] = s.mayAccess(record, auth, collection.ListRule)
		if sameRules {
			access.view[key] = access.list[key]
			continue
		}
		access.view[key] = s.mayAccess(record, auth, collection.ViewRule)
	}
	return access
}

// mayAccess evaluates one rule; an error hides the record.
func (s *server) mayAccess(record *core.Record, auth *core.Record, rule *string) bool {
	ok, err := s.app.CanAccessRecord(record, requestInfoFor(auth), rule)
	if err != nil {
		s.logger.Warn("rule not evaluated", "collection", record.Collection().Name, "id", record.Id, "error", err)
		return false
	}
	return ok
}

// canList says whether the user's list rule shows the record now.
func canList(app core.App, record *core.Record, auth *core.Record) bool {
	ok, err := app.CanAccessRecord(record, requestInfoFor(auth), record.Collection().ListRule)
	return err == nil && ok
}

// pendingAccess holds the access captured before a write until the write
// commits or fails. It is keyed by the record being saved, which
// PocketBase passes unchanged from the first hook to the last.
type pendingAccess struct {
	mu      sync.Mutex
	records map[*core.Record]*Access
}

func newPendingAccess() *pendingAccess {
	return &pendingAccess{records: map[*core.Record]*Access{}}
}

func (p *pendingAccess) put(record *core.Record, access *Access) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.records[record] = access
}

// take returns and forgets the access captured for the record, or nil.
func (p *pendingAccess) take(record *core.Record) *Access {
	p.mu.Lock()
	defer p.mu.Unlock()
	access := p.records[record]
	delete(p.records, record)
	return access
}
