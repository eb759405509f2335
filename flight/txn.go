package flight

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A Flight transaction must not stall PocketBase: SQLite has one writer,
// and PocketBase's own writes (API, ingest, hooks) wait for the same
// connection. So a Flight transaction holds no connection until its first
// write; from then on it holds PocketBase's writer under a lease
// (Options.TxWriteLease). When the lease runs out the transaction is
// rolled back, the writer goes back to PocketBase, and every later call
// on the transaction (commit included) gets codes.Aborted saying why.
// Reads before the first write run on the read pool; reads after it run
// on the held connection so they see the transaction's own writes.

// flightTx is one client transaction.
type flightTx struct {
	owner string
	// connection, when not 0, ends the transaction when it closes.
	connection uint64

	mu       sync.Mutex
	lastUsed time.Time
	w        *writer
	// stopLease cancels the lease timer once the transaction ends.
	stopLease func() bool
	// leaseCtx ends when the lease does; running statements are
	// interrupted with it.
	leaseCtx    context.Context
	leaseCancel context.CancelFunc
	aborted     error
	ended       bool

	// savepoints maps savepoint ids to their SQL names (generated here,
	// never taken from the client) and change-capture marks.
	savepoints map[string]savepoint
	spSeq      int
}

// txnStore maps random transaction ids to transactions; each belongs to
// the user or session that began it.
type txnStore struct {
	idle time.Duration

	mu sync.Mutex
	m  map[string]*flightTx
}

func newTxnStore(idle time.Duration) *txnStore {
	return &txnStore{idle: idle, m: map[string]*flightTx{}}
}

// get returns the caller's transaction; other owners get NotFound.
func (ts *txnStore) get(id []byte, owner string) (*flightTx, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()

	tx, ok := ts.m[string(id)]
	if !ok || tx.owner != owner {
		return nil, status.Error(codes.NotFound, "unknown or expired transaction")
	}

	tx.mu.Lock()
	idle := time.Since(tx.lastUsed) > ts.idle
	tx.mu.Unlock()
	if idle {
		delete(ts.m, string(id))
		go tx.end("transaction expired after being idle")
		return nil, status.Error(codes.NotFound, "unknown or expired transaction")
	}
	return tx, nil
}

// sweep drops transactions idle for longer than the idle timeout,
// rolling back any that still hold the writer.
func (ts *txnStore) sweep() {
	ts.mu.Lock()
	var stale []*flightTx
	now := time.Now()
	for k, tx := range ts.m {
		tx.mu.Lock()
		if now.Sub(tx.lastUsed) > ts.idle {
			stale = append(stale, tx)
			delete(ts.m, k)
		}
		tx.mu.Unlock()
	}
	ts.mu.Unlock()

	for _, tx := range stale {
		tx.end("transaction expired after being idle")
	}
}

// endOwned rolls back and forgets every transaction of owner.
func (ts *txnStore) endOwned(owner, reason string) {
	ts.endWhere(func(tx *flightTx) bool { return tx.owner == owner }, reason)
}

// endOnConnection rolls back and forgets the transactions tied to a
// closed connection, and returns how many there were.
func (ts *txnStore) endOnConnection(connection uint64, reason string) int {
	return ts.endWhere(func(tx *flightTx) bool { return tx.connection == connection }, reason)
}

// endWhere rolls back and forgets the transactions that match, and
// returns how many there were.
func (ts *txnStore) endWhere(match func(*flightTx) bool, reason string) int {
	ts.mu.Lock()
	var matched []*flightTx
	for k, tx := range ts.m {
		if match(tx) {
			matched = append(matched, tx)
			delete(ts.m, k)
		}
	}
	ts.mu.Unlock()

	for _, tx := range matched {
		tx.end(reason)
	}
	return len(matched)
}

// endAll rolls back every transaction, e.g. when the server stops.
func (ts *txnStore) endAll(reason string) {
	ts.mu.Lock()
	all := make([]*flightTx, 0, len(ts.m))
	for _, tx := range ts.m {
		all = append(all, tx)
	}
	ts.mu.Unlock()

	for _, tx := range all {
		tx.end(reason)
	}
}

// BeginTransaction opens a transaction owned by the caller.
func (s *Server) BeginTransaction(ctx context.Context, _ flightsql.ActionBeginTransactionRequest) ([]byte, error) {
	ident, ok := identityFrom(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "not authenticated")
	}
	if err := s.requireWriter(ident); err != nil {
		return nil, err
	}

	s.txns.sweep()

	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, status.Errorf(codes.Internal, "generating transaction id: %v", err)
	}

	s.txns.mu.Lock()
	defer s.txns.mu.Unlock()

	if len(s.txns.m) >= maxStatements {
		return nil, status.Error(codes.ResourceExhausted, "too many open transactions")
	}
	s.txns.m[string(id)] = &flightTx{owner: ident.owner(), connection: ident.implicitConnection(), lastUsed: time.Now()}
	return id, nil
}

// EndTransaction commits or rolls back the caller's transaction.
func (s *Server) EndTransaction(ctx context.Context, req flightsql.ActionEndTransactionRequest) error {
	ident, ok := identityFrom(ctx)
	if !ok {
		return status.Error(codes.Unauthenticated, "not authenticated")
	}

	tx, err := s.txns.get(req.GetTransactionId(), ident.owner())
	if err != nil {
		return err
	}

	s.txns.mu.Lock()
	delete(s.txns.m, string(req.GetTransactionId()))
	s.txns.mu.Unlock()

	switch req.GetAction() {
	case flightsql.EndTransactionCommit:
		changes, err := tx.commit()
		if err != nil {
			return err
		}
		if changes != nil {
			s.emit(ctx, changes)
		}
		return nil
	case flightsql.EndTransactionRollback:
		tx.end("")
		return nil
	default:
		return status.Error(codes.InvalidArgument, "end transaction action must be commit or rollback")
	}
}

// write runs a write statement in the transaction, taking PocketBase's
// writer and starting the lease on the first write.
func (tx *flightTx) write(ctx context.Context, s *Server, query string, argRows [][]any) (int64, error) {
	if err := checkSingleStatement(query); err != nil {
		return 0, err
	}

	tx.mu.Lock()
	defer tx.mu.Unlock()

	if err := tx.usable(); err != nil {
		return 0, err
	}

	if err := tx.ensureWriter(ctx, s); err != nil {
		return 0, err
	}

	// The statement is interrupted when the lease ends, so a long write
	// cannot outlive it either.
	execCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(tx.leaseCtx, cancel)
	defer stop()

	n, err := tx.w.exec(execCtx, query, argRows)
	if tx.w.lost {
		const reason = "transaction rolled back: a statement's conflict clause (OR ROLLBACK) ended it inside SQLite"
		tx.endLocked(reason)
		return 0, status.Error(codes.Aborted, reason)
	}
	return n, err
}

// ensureWriter takes PocketBase's writer, begins the SQLite transaction
// and starts the write lease, unless that already happened; tx.mu held.
func (tx *flightTx) ensureWriter(ctx context.Context, s *Server) error {
	if tx.w != nil {
		return nil
	}

	w, err := s.acquireWriter(ctx)
	if err != nil {
		return err
	}
	if err := w.begin(ctx); err != nil {
		_ = w.finish(false)
		return err
	}

	lease := s.opts.TxWriteLease
	w.inClientTx = true
	tx.w = w
	tx.leaseCtx, tx.leaseCancel = context.WithTimeout(context.Background(), lease)
	tx.stopLease = context.AfterFunc(tx.leaseCtx, func() {
		tx.end(fmt.Sprintf("transaction rolled back: it held the database writer longer than its %s write lease, and PocketBase's own writes cannot wait longer", lease))
		s.logger.Warn("flight transaction write lease expired; rolled back", "lease", lease.String())
	})
	return nil
}

// usable reports why the transaction cannot run statements; tx.mu held.
func (tx *flightTx) usable() error {
	tx.lastUsed = time.Now()
	if tx.aborted != nil {
		return tx.aborted
	}
	if tx.ended {
		return status.Error(codes.NotFound, "transaction already ended")
	}
	return nil
}

// commit ends the transaction and returns its changes for re-emission.
func (tx *flightTx) commit() (*changeLog, error) {
	tx.mu.Lock()
	defer tx.mu.Unlock()

	if err := tx.usable(); err != nil {
		return nil, err
	}
	tx.ended = true
	tx.stopTimer()

	if tx.w == nil {
		return nil, nil
	}

	w := tx.w
	tx.w = nil
	if err := w.finish(true); err != nil {
		return nil, err
	}
	return w.changes, nil
}

// end rolls the transaction back. A non-empty reason marks it aborted so
// later calls learn why.
func (tx *flightTx) end(reason string) {
	tx.mu.Lock()
	defer tx.mu.Unlock()

	tx.endLocked(reason)
}

// endLocked is end with tx.mu held.
func (tx *flightTx) endLocked(reason string) {
	if tx.ended {
		return
	}
	tx.ended = true
	if reason != "" {
		tx.aborted = status.Error(codes.Aborted, reason)
	}
	tx.stopTimer()

	if tx.w != nil {
		_ = tx.w.finish(false)
		tx.w = nil
	}
}

func (tx *flightTx) stopTimer() {
	if tx.stopLease != nil {
		tx.stopLease()
		tx.leaseCancel()
	}
}

// read runs a query of the transaction on its held writer connection, so
// it sees the transaction's own writes. The result is collected under the
// transaction lock (the connection cannot be shared with a concurrent
// write) and then streamed. handled is false when the transaction holds
// no connection yet: the read pool then serves the query.
func (tx *flightTx) read(ctx context.Context, s *Server, stmt *statement) (_ <-chan flight.StreamChunk, handled bool, _ error) {
	tx.mu.Lock()
	defer tx.mu.Unlock()

	if err := tx.usable(); err != nil {
		return nil, true, err
	}
	if tx.w == nil {
		return nil, false, nil
	}

	args := stmt.args
	if len(args) == 0 {
		args = [][]any{nil}
	}

	bb := newBatchBuilder(memory.DefaultAllocator, stmt.shape)
	defer bb.release()

	var batches []arrow.RecordBatch
	keep := func(rec arrow.RecordBatch) bool {
		batches = append(batches, rec)
		return true
	}

	for _, a := range args {
		tx.w.g.policy.reset()
		rows, err := tx.w.g.conn.QueryContext(ctx, stmt.query, a...)
		if err != nil {
			releaseAll(batches)
			return nil, true, tx.w.g.sqlError("running query in transaction", err)
		}
		err = scanInto(rows, bb, keep)
		rows.Close()
		if err != nil {
			releaseAll(batches)
			return nil, true, tx.w.g.sqlError("reading rows in transaction", err)
		}
	}
	if bb.rows > 0 {
		batches = append(batches, bb.flush())
	}

	ch := make(chan flight.StreamChunk, len(batches))
	for _, b := range batches {
		ch <- flight.StreamChunk{Data: b}
	}
	close(ch)
	return ch, true, nil
}

func releaseAll(batches []arrow.RecordBatch) {
	for _, b := range batches {
		b.Release()
	}
}
