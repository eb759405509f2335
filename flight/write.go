package flight

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Writes go through PocketBase's single writer: the one connection of
// app.NonconcurrentDB(). Taking it from its pool serialises Flight SQL
// writes with PocketBase's own (ingest, API, hooks), so neither side ever
// sees "database is locked". The connection is held only for one write
// (or one Flight transaction, bounded by its write lease) and the write
// authorizer and change capture are removed before it goes back.

// writer is PocketBase's write connection held by one Flight write.
type writer struct {
	g       *guardedConn
	changes *changeLog
	open    bool // BEGIN issued and not yet ended
	// ddl is set once a statement changed the schema; onDDL then runs
	// when the transaction ends, so no reader still sees the old schema.
	ddl   bool
	onDDL func()
	// rows validates and stamps changed collection rows (validate.go).
	rows *checker
	// relations applies PocketBase's relation rules to deleted rows
	// (cascade.go); nil when no relation field exists.
	relations *cascader
	// inClientTx marks the writer of a Flight transaction, where a
	// refused statement must be undone alone.
	inClientTx bool
	// statements caches the server's own prepared statements (checks,
	// stamps, relation rules) for as long as the writer is held.
	statements map[string]*sql.Stmt
	// lost is set when SQLite ended the client transaction on its own
	// (a statement's ON CONFLICT ROLLBACK): the statement savepoint is
	// gone with it, and the Flight transaction must end.
	lost bool
}

// acquireWriter waits (bounded by Options.WriteWait) for PocketBase's
// write connection and installs the write policy and change capture.
func (s *Server) acquireWriter(ctx context.Context) (*writer, error) {
	db, ok := s.app.NonconcurrentDB().(*dbx.DB)
	if !ok {
		return nil, status.Error(codes.Internal, "write database is not a *dbx.DB")
	}

	waitCtx, cancel := context.WithTimeout(ctx, s.opts.WriteWait)
	defer cancel()

	g, err := acquire(waitCtx, db.DB(), newPolicy(s.app, true))
	if err != nil {
		if waitCtx.Err() != nil && ctx.Err() == nil {
			return nil, status.Errorf(codes.Unavailable, "the database writer stayed busy for %s; retry later", s.opts.WriteWait)
		}
		return nil, err
	}

	w := &writer{g: g, changes: newChangeLog(s.app), onDDL: s.shapes.invalidate}
	w.rows = &checker{app: s.app, w: w}
	if referenced(s.app) {
		w.relations = &cascader{app: s.app, w: w}
	}

	err = g.conn.Raw(func(dc any) error {
		h, ok := dc.(preUpdateHooker)
		if !ok {
			return fmt.Errorf("driver connection %T has no pre-update hook", dc)
		}
		h.RegisterPreUpdateHook(w.changes.capture)
		return nil
	})
	if err != nil {
		g.release()
		return nil, status.Errorf(codes.Internal, "installing change capture: %v", err)
	}

	return w, nil
}

// control runs BEGIN/COMMIT/ROLLBACK, which the policy refuses to clients.
func (w *writer) control(ctx context.Context, sql string) error {
	w.g.policy.setInternal(true)
	defer w.g.policy.setInternal(false)

	if _, err := w.g.conn.ExecContext(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}

// begin starts an immediate transaction: the write lock is taken now, so
// a later statement cannot fail with SQLITE_BUSY halfway.
func (w *writer) begin(ctx context.Context) error {
	if err := w.control(ctx, "BEGIN IMMEDIATE"); err != nil {
		return status.Errorf(codes.Unavailable, "starting write transaction: %v", err)
	}
	w.open = true
	return nil
}

// exec runs query once per argument row (once with no arguments when
// argRows is empty) and returns the total number of changed rows. After
// each run the changed collection rows are validated and stamped
// (validate.go) and deleted records' relation rules applied (cascade.go).
//
// A call is all or nothing: in a client transaction a savepoint marks its
// start, so a refused row undoes the rows before it and the transaction
// goes on; outside one, the caller rolls the whole write back.
func (w *writer) exec(ctx context.Context, query string, argRows [][]any) (int64, error) {
	if len(argRows) == 0 {
		argRows = [][]any{nil}
	}

	mark := w.changes.mark()
	if w.inClientTx {
		if err := w.control(ctx, "SAVEPOINT "+statementSavepoint); err != nil {
			return 0, status.Errorf(codes.Internal, "marking the statement's start: %v", err)
		}
	}

	total, err := w.execRows(ctx, query, argRows)
	if err != nil {
		// SQLite undid a failed statement itself, not the runs before it
		// nor one a check refused; the capture must follow, or a later
		// commit would announce changes that never happened.
		w.undoStatement()
		w.changes.truncate(mark)
		return 0, err
	}

	if w.inClientTx {
		if err := w.control(ctx, "RELEASE "+statementSavepoint); err != nil {
			w.lost = true
			return 0, status.Errorf(codes.Aborted, "the statement ended the transaction: %v", err)
		}
	}
	return total, nil
}

// execRows runs and checks query for each argument row. Several rows
// share one prepared statement: the authorizer decides at prepare time.
func (w *writer) execRows(ctx context.Context, query string, argRows [][]any) (int64, error) {
	w.g.policy.reset()
	run := func(args []any) (sql.Result, error) { return w.g.conn.ExecContext(ctx, query, args...) }
	if len(argRows) > 1 {
		stmt, err := w.g.conn.PrepareContext(ctx, query)
		if err != nil {
			return 0, w.g.sqlError("preparing statement", err)
		}
		defer stmt.Close()
		run = func(args []any) (sql.Result, error) { return stmt.ExecContext(ctx, args...) }
	}

	var total int64
	for _, args := range argRows {
		w.changes.beginStatement()

		res, err := run(args)
		if err != nil {
			return total, w.g.sqlError("executing statement", err)
		}
		if w.g.policy.isDDL() {
			w.ddl = true
		}

		if err := w.rows.checkStatement(ctx); err != nil {
			return total, err
		}
		if w.relations != nil {
			if err := w.relations.apply(ctx); err != nil {
				return total, err
			}
		}

		if n, err := res.RowsAffected(); err == nil {
			total += n
		}
	}
	return total, nil
}

// internal runs fn with the write policy switched to the server's own
// statements.
func (w *writer) internal(fn func() error) error {
	w.g.policy.setInternal(true)
	defer w.g.policy.setInternal(false)

	return fn()
}

// prepared returns the server's own statement query, prepared once per
// writer; call it inside internal.
func (w *writer) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if stmt, ok := w.statements[query]; ok {
		return stmt, nil
	}

	stmt, err := w.g.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if w.statements == nil {
		w.statements = map[string]*sql.Stmt{}
	}
	w.statements[query] = stmt
	return stmt, nil
}

// undoStatement rolls back to the statement's savepoint, if one was
// taken. It does not wait for a cancelled call.
func (w *writer) undoStatement() {
	if !w.inClientTx {
		return
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if err := w.control(ctx, "ROLLBACK TO "+statementSavepoint); err != nil {
		// No savepoint: SQLite already rolled the whole transaction back.
		w.lost = true
		return
	}
	_ = w.control(ctx, "RELEASE "+statementSavepoint)
}

// finish commits (or rolls back) the open transaction and releases the
// connection. It uses a detached context: a cancelled call must still end
// the transaction before the connection goes back to PocketBase.
func (w *writer) finish(commit bool) error {
	var err error
	if w.open {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()

		if commit {
			err = w.control(ctx, "COMMIT")
		}
		if !commit || err != nil {
			if rbErr := w.control(ctx, "ROLLBACK"); rbErr != nil && err == nil {
				err = rbErr
			}
		}
		w.open = false
	}

	for _, stmt := range w.statements {
		stmt.Close()
	}
	w.statements = nil
	w.g.release()

	// Cached shapes of queries on the changed table are stale now.
	if w.ddl && w.onDDL != nil {
		w.onDDL()
	}

	if err != nil {
		return status.Errorf(codes.Aborted, "ending write transaction: %v", err)
	}
	return nil
}

// runWrite executes one write statement (for every argument row) in its
// own transaction on PocketBase's writer and, after commit, re-emits the
// changes to PocketBase hooks and realtime subscribers.
func (s *Server) runWrite(ctx context.Context, query string, argRows [][]any) (int64, error) {
	if err := checkSingleStatement(query); err != nil {
		return 0, err
	}

	return s.writeInTransaction(ctx, func(w *writer) (int64, error) {
		return w.exec(ctx, query, argRows)
	})
}

// writeInTransaction runs steps in one immediate transaction on
// PocketBase's writer, commits it (or rolls back on error), and then replays
// the captured row changes to PocketBase's hooks. Hooks may write
// themselves, so they run after the writer is back.
func (s *Server) writeInTransaction(ctx context.Context, steps func(w *writer) (int64, error)) (int64, error) {
	w, err := s.acquireWriter(ctx)
	if err != nil {
		return 0, err
	}

	if err := w.begin(ctx); err != nil {
		_ = w.finish(false)
		return 0, err
	}

	n, err := steps(w)
	if err != nil {
		_ = w.finish(false)
		return 0, err
	}
	if err := w.finish(true); err != nil {
		return 0, err
	}

	s.emit(ctx, w.changes)
	return n, nil
}

// DoPutCommandStatementUpdate runs an ad hoc INSERT, UPDATE, DELETE or
// DDL statement, inside the given transaction if there is one.
func (s *Server) DoPutCommandStatementUpdate(ctx context.Context, cmd flightsql.StatementUpdate) (int64, error) {
	ident, ok := identityFrom(ctx)
	if !ok {
		return 0, status.Error(codes.Unauthenticated, "not authenticated")
	}
	if err := s.requireWriter(ident); err != nil {
		return 0, err
	}

	n, err := s.write(ctx, ident, cmd.GetTransactionId(), cmd.GetQuery(), nil)
	if err != nil {
		s.logger.Info("flight update refused", "user", ident.email, "error", err)
		return 0, err
	}
	return n, nil
}

// write runs a write statement alone or in the caller's transaction.
func (s *Server) write(ctx context.Context, ident identity, txID []byte, query string, argRows [][]any) (int64, error) {
	if len(txID) == 0 {
		return s.runWrite(ctx, query, argRows)
	}

	tx, err := s.txns.get(txID, ident.owner())
	if err != nil {
		return 0, err
	}
	return tx.write(ctx, s, query, argRows)
}

// requireWriter refuses writes from read-only identities.
func (s *Server) requireWriter(ident identity) error {
	if ident.readOnlyBySession {
		return status.Error(codes.PermissionDenied, "this session is read-only: set the session option read_only to false to write")
	}
	if ident.readOnly {
		return status.Error(codes.PermissionDenied, "this account may only read over Flight SQL")
	}
	return nil
}

// recordEvent builds the model event PocketBase's hooks expect.
func (s *Server) recordEvent(ctx context.Context, kind string, rec *core.Record) *core.ModelEvent {
	ev := &core.ModelEvent{App: s.app, Context: context.WithoutCancel(ctx), Type: kind}
	ev.Model = rec
	return ev
}
