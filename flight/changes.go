package flight

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	sqlite3 "modernc.org/sqlite/lib"

	"modernc.org/sqlite"
)

// maxCapturedChanges bounds the rows one write remembers for realtime
// re-emission; a bulk write beyond it is committed without events
// rather than holding millions of rows in memory.
const maxCapturedChanges = 10000

// maxStatementChanges bounds the collection rows one statement may
// change: each is validated and has its relation rules applied
// (validate.go, cascade.go), which needs all of them in hand.
const maxStatementChanges = 10000

// Raw SQL fires no PocketBase hook, so realtime subscribers would never
// hear of Flight SQL writes. SQLite's pre-update hook reports every row a
// statement inserts, updates or deletes (cascades included); rows of
// collection tables are remembered here and, after commit, replayed
// through PocketBase's model hooks, which is what realtime listens to.

// rowChange is one changed row of a collection table.
type rowChange struct {
	op         int32
	collection *core.Collection
	rowid      int64
	// old holds a deleted row's values in table column order: the row is
	// gone after commit, so it cannot be loaded then.
	old []any
	// detail is shared by the copies of an inserted or updated row's
	// change; validation fills it in (validate.go).
	detail *changeDetail
}

// changeDetail is what validation learnt about an inserted or updated row.
type changeDetail struct {
	// record is the row as validated: after commit the event loads the
	// record by its id (a rowid can be reused within a transaction), and
	// falls back to this copy when a later statement deleted it.
	record *core.Record
}

// remember keeps the validated record; d may be nil.
func (d *changeDetail) remember(record *core.Record) {
	if d != nil {
		d.record = record
	}
}

// changeLog collects the row changes of one write or transaction.
type changeLog struct {
	collections map[string]*core.Collection

	mu       sync.Mutex
	list     []rowChange
	overflow bool

	// statement holds the changes of the statement running now, for its
	// checks; statementOverflow names a collection whose rows did not fit.
	statement         []rowChange
	statementOverflow string

	// muted drops captures while the server stamps rows it already
	// captured (validate.go).
	muted bool

	// columns caches table column names, to read deleted rows' values.
	columns map[string][]string
}

func newChangeLog(app core.App) *changeLog {
	cl := &changeLog{collections: map[string]*core.Collection{}}

	collections, err := cachedCollections(app)
	if err != nil {
		return cl
	}
	for _, c := range collections {
		if !c.IsView() {
			cl.collections[strings.ToLower(c.Name)] = c
		}
	}
	return cl
}

// capture is the pre-update hook. It runs inside sqlite3_step on the
// writer connection and only copies values.
func (cl *changeLog) capture(d sqlite.SQLitePreUpdateData) {
	col := cl.collections[strings.ToLower(d.TableName)]
	if col == nil || d.DatabaseName != "main" {
		return
	}

	cl.mu.Lock()
	defer cl.mu.Unlock()

	if cl.muted {
		return
	}

	keepForStatement := len(cl.statement) < maxStatementChanges
	keepForEvents := len(cl.list) < maxCapturedChanges
	if !keepForStatement && cl.statementOverflow == "" {
		cl.statementOverflow = col.Name
	}
	if !keepForEvents {
		cl.overflow = true
	}
	if !keepForStatement && !keepForEvents {
		return
	}

	c := rowChange{op: d.Op, collection: col, rowid: d.NewRowID}
	if d.Op != sqlite3.SQLITE_DELETE {
		c.detail = &changeDetail{}
	}
	if d.Op == sqlite3.SQLITE_DELETE {
		c.rowid = d.OldRowID
		// Old assigns into &dest[i], so the slice itself is passed.
		c.old = make([]any, d.Count())
		if err := d.Old(c.old...); err != nil {
			c.old = nil
		}
	}
	if keepForStatement {
		cl.statement = append(cl.statement, c)
	}
	if keepForEvents {
		cl.list = append(cl.list, c)
	}
}

// mute stops (or resumes) capturing.
func (cl *changeLog) mute(on bool) {
	cl.mu.Lock()
	defer cl.mu.Unlock()

	cl.muted = on
}

// beginStatement forgets the previous statement's changes.
func (cl *changeLog) beginStatement() {
	cl.mu.Lock()
	defer cl.mu.Unlock()

	cl.statement, cl.statementOverflow = cl.statement[:0], ""
}

// statementChange returns the i-th change of the running statement,
// including those its relation rules made, if there is one.
func (cl *changeLog) statementChange(i int) (rowChange, bool) {
	cl.mu.Lock()
	defer cl.mu.Unlock()

	if i >= len(cl.statement) {
		return rowChange{}, false
	}
	return cl.statement[i], true
}

// statementSize is the number of changes the running statement made.
func (cl *changeLog) statementSize() int {
	cl.mu.Lock()
	defer cl.mu.Unlock()

	return len(cl.statement)
}

// statementDropped names a collection whose changed rows did not fit
// the statement's capture, or is empty.
func (cl *changeLog) statementDropped() string {
	cl.mu.Lock()
	defer cl.mu.Unlock()

	return cl.statementOverflow
}

// mark returns the current capture position.
func (cl *changeLog) mark() int {
	cl.mu.Lock()
	defer cl.mu.Unlock()

	return len(cl.list)
}

// truncate drops changes captured after mark.
func (cl *changeLog) truncate(mark int) {
	cl.mu.Lock()
	defer cl.mu.Unlock()

	if mark < len(cl.list) {
		cl.list = cl.list[:mark]
	}
	if mark < maxCapturedChanges {
		cl.overflow = false
	}
}

// take returns the captured changes and whether some were dropped.
func (cl *changeLog) take() ([]rowChange, bool) {
	cl.mu.Lock()
	defer cl.mu.Unlock()

	list, overflow := cl.list, cl.overflow
	cl.list, cl.overflow = nil, false
	return list, overflow
}

// emit replays committed changes through PocketBase's model hooks. It
// must run after the writer connection is released: hooks may write.
func (s *Server) emit(ctx context.Context, cl *changeLog) {
	list, overflow := cl.take()
	if overflow {
		s.logger.Warn("flight write changed too many rows; realtime events were not sent", "limit", maxCapturedChanges)
		return
	}

	for _, c := range list {
		var err error
		switch c.op {
		case sqlite3.SQLITE_INSERT:
			err = s.emitSaved(ctx, c, core.ModelEventTypeCreate)
		case sqlite3.SQLITE_UPDATE:
			err = s.emitSaved(ctx, c, core.ModelEventTypeUpdate)
		case sqlite3.SQLITE_DELETE:
			err = s.emitDeleted(ctx, cl, c)
		}
		if err != nil {
			s.logger.Warn("re-emitting flight write to pocketbase hooks", "collection", c.collection.Name, "error", err)
		}
	}
}

// emitSaved loads the record as it is after commit and fires the
// after-save hook. A validated row is found by its record id (rowids can
// be reused within a transaction); if a later statement deleted it, the
// validated copy is announced. A row nothing validated (one a relation
// rule changed) is found by rowid, and skipped when gone.
func (s *Server) emitSaved(ctx context.Context, c rowChange, kind string) error {
	rec := &core.Record{}
	query := s.app.RecordQuery(c.collection).Limit(1)
	if c.detail != nil && c.detail.record != nil {
		query = query.AndWhere(dbx.HashExp{c.collection.Name + ".id": c.detail.record.Id})
	} else {
		query = query.AndWhere(dbx.HashExp{c.collection.Name + ".rowid": c.rowid})
	}
	if err := query.One(rec); err != nil {
		if c.detail == nil || c.detail.record == nil {
			return nil
		}
		rec = c.detail.record
	}

	ev := s.recordEvent(ctx, kind, rec)
	if kind == core.ModelEventTypeCreate {
		return s.app.OnModelAfterCreateSuccess().Trigger(ev)
	}
	return s.app.OnModelAfterUpdateSuccess().Trigger(ev)
}

// deletedRecord rebuilds a deleted row's record from its captured values;
// nil when they could not be captured. Column names come from the
// committed schema (Flight SQL cannot change a collection's table) and are
// cached per write.
func (cl *changeLog) deletedRecord(app core.App, c rowChange) (*core.Record, error) {
	if c.old == nil {
		return nil, nil
	}

	cl.mu.Lock()
	names, ok := cl.columns[c.collection.Name]
	cl.mu.Unlock()
	if !ok {
		err := app.ConcurrentDB().NewQuery("SELECT name FROM pragma_table_info({:t}) ORDER BY cid").
			Bind(dbx.Params{"t": c.collection.Name}).
			Column(&names)
		if err != nil {
			return nil, fmt.Errorf("reading the columns of %q: %w", c.collection.Name, err)
		}
		cl.mu.Lock()
		if cl.columns == nil {
			cl.columns = map[string][]string{}
		}
		cl.columns[c.collection.Name] = names
		cl.mu.Unlock()
	}
	if len(names) != len(c.old) {
		return nil, fmt.Errorf("table %q has %d columns, the deleted row %d", c.collection.Name, len(names), len(c.old))
	}

	data := make(map[string]any, len(names))
	for i, n := range names {
		data[n] = c.old[i]
	}
	rec := core.NewRecord(c.collection)
	rec.Load(data)
	rec.MarkAsNotNew()
	return rec, nil
}

// emitDeleted fires the delete hooks for a deleted record the way
// app.Delete does (OnModelDelete prepares realtime messages,
// OnModelAfterDeleteSuccess sends them), with a no-op in place of the
// already done deletion.
func (s *Server) emitDeleted(ctx context.Context, cl *changeLog, c rowChange) error {
	rec, err := cl.deletedRecord(s.app, c)
	if err != nil || rec == nil {
		return err
	}

	ev := s.recordEvent(ctx, core.ModelEventTypeDelete, rec)
	if err := s.app.OnModelDelete().Trigger(ev, func(*core.ModelEvent) error { return nil }); err != nil {
		return err
	}
	return s.app.OnModelAfterDeleteSuccess().Trigger(ev)
}
