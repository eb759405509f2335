package flight

import (
	"context"
	"strings"
	"sync"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	sqlite3 "modernc.org/sqlite/lib"

	"modernc.org/sqlite"
)

// maxCapturedChanges bounds the rows one write remembers for realtime
// re-emission; a bulk statement beyond it is committed without events
// rather than holding millions of rows in memory.
const maxCapturedChanges = 10000

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
}

// changeLog collects the row changes of one write or transaction.
type changeLog struct {
	collections map[string]*core.Collection

	mu       sync.Mutex
	list     []rowChange
	overflow bool
	// droppedDelete names a collection that lost a deleted row to the
	// overflow; relation rules (cascade.go) cannot run without it.
	droppedDelete string
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

	if len(cl.list) >= maxCapturedChanges {
		cl.overflow = true
		if d.Op == sqlite3.SQLITE_DELETE && cl.droppedDelete == "" {
			cl.droppedDelete = col.Name
		}
		return
	}

	c := rowChange{op: d.Op, collection: col, rowid: d.NewRowID}
	if d.Op == sqlite3.SQLITE_DELETE {
		c.rowid = d.OldRowID
		// Old assigns into &dest[i], so the slice itself is passed.
		c.old = make([]any, d.Count())
		if err := d.Old(c.old...); err != nil {
			c.old = nil
		}
	}
	cl.list = append(cl.list, c)
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
		cl.overflow, cl.droppedDelete = false, ""
	}
}

// at returns the i-th captured change, if there is one.
func (cl *changeLog) at(i int) (rowChange, bool) {
	cl.mu.Lock()
	defer cl.mu.Unlock()

	if i >= len(cl.list) {
		return rowChange{}, false
	}
	return cl.list[i], true
}

// droppedDeletes names a collection whose deleted rows overflowed the
// capture, or is empty.
func (cl *changeLog) droppedDeletes() string {
	cl.mu.Lock()
	defer cl.mu.Unlock()

	return cl.droppedDelete
}

// take returns the captured changes and whether some were dropped.
func (cl *changeLog) take() ([]rowChange, bool) {
	cl.mu.Lock()
	defer cl.mu.Unlock()

	list, overflow := cl.list, cl.overflow
	cl.list, cl.overflow, cl.droppedDelete = nil, false, ""
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
			err = s.emitDeleted(ctx, c)
		}
		if err != nil {
			s.logger.Warn("re-emitting flight write to pocketbase hooks", "collection", c.collection.Name, "error", err)
		}
	}
}

// emitSaved loads the row as it is after commit and fires the after-save
// hook; a row deleted later in the same transaction is skipped.
func (s *Server) emitSaved(ctx context.Context, c rowChange, kind string) error {
	rec := &core.Record{}
	err := s.app.RecordQuery(c.collection).
		AndWhere(dbx.HashExp{c.collection.Name + ".rowid": c.rowid}).
		Limit(1).
		One(rec)
	if err != nil {
		return nil
	}

	ev := s.recordEvent(ctx, kind, rec)
	if kind == core.ModelEventTypeCreate {
		return s.app.OnModelAfterCreateSuccess().Trigger(ev)
	}
	return s.app.OnModelAfterUpdateSuccess().Trigger(ev)
}

// emitDeleted rebuilds the deleted record from its captured values and
// fires the delete hooks the way app.Delete does (OnModelDelete prepares
// realtime messages, OnModelAfterDeleteSuccess sends them), with a no-op
// in place of the already done deletion.
func (s *Server) emitDeleted(ctx context.Context, c rowChange) error {
	if c.old == nil {
		return nil
	}

	var names []string
	err := s.app.ConcurrentDB().NewQuery("SELECT name FROM pragma_table_info({:t}) ORDER BY cid").
		Bind(dbx.Params{"t": c.collection.Name}).
		Column(&names)
	if err != nil || len(names) != len(c.old) {
		return err
	}

	data := make(map[string]any, len(names))
	for i, n := range names {
		data[n] = c.old[i]
	}

	rec := core.NewRecord(c.collection)
	rec.Load(data)
	rec.MarkAsNotNew()

	ev := s.recordEvent(ctx, core.ModelEventTypeDelete, rec)
	if err := s.app.OnModelDelete().Trigger(ev, func(*core.ModelEvent) error { return nil }); err != nil {
		return err
	}
	return s.app.OnModelAfterDeleteSuccess().Trigger(ev)
}
