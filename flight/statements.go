package flight

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	// statementTTL is how long a ticket from GetFlightInfo stays valid.
	statementTTL = 5 * time.Minute
	// maxStatements caps stored handles per server: room for a few
	// hundred queries a second within statementTTL. Each holds only the
	// SQL text, bound arguments and schema.
	maxStatements = 200_000
)

// statement is a query a client sent with GetFlightInfo, kept server side;
// the ticket only carries a random handle to it.
type statement struct {
	query string
	owner string
	shape resultShape
	// args holds one argument list per bound parameter row; the query
	// runs once per row and the results are concatenated.
	args [][]any
	// txID is the Flight transaction the query reads in, if any.
	txID []byte
	// noResult marks a write that already ran: DoGet streams nothing.
	noResult bool
	expires  time.Time

	// cancelled is closed by CancelFlightInfo; a running stream then
	// stops and ends with codes.Canceled.
	cancelled  chan struct{}
	cancelOnce sync.Once
}

// cancel marks the statement cancelled; it is safe to call repeatedly.
func (stmt *statement) cancel() {
	stmt.cancelOnce.Do(func() { close(stmt.cancelled) })
}

// queryContext is ctx, also cancelled when the statement is.
func (stmt *statement) queryContext(ctx context.Context) (context.Context, context.CancelFunc) {
	qctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-stmt.cancelled:
			cancel()
		case <-qctx.Done():
		}
	}()
	return qctx, cancel
}

// errCancelled is what a cancelled stream ends with.
var errCancelled = status.Error(codes.Canceled, "query cancelled by CancelFlightInfo")

// statementStore maps random handles to statements. Handles are 32 random
// bytes, so a ticket cannot be forged into other SQL or guessed; each one
// is also bound to the user (or session) that created it.
type statementStore struct {
	mu        sync.Mutex
	m         map[string]*statement
	lastSweep time.Time
}

func newStatementStore() *statementStore {
	return &statementStore{m: map[string]*statement{}}
}

func (st *statementStore) put(stmt *statement) ([]byte, error) {
	handle := make([]byte, 32)
	if _, err := rand.Read(handle); err != nil {
		return nil, fmt.Errorf("generating statement handle: %w", err)
	}

	st.mu.Lock()
	defer st.mu.Unlock()

	// Sweeping every put would make a busy point-query load quadratic;
	// once a second (or when full) is enough.
	now := time.Now()
	if now.Sub(st.lastSweep) > time.Second || len(st.m) >= maxStatements {
		st.lastSweep = now
		for k, v := range st.m {
			if now.After(v.expires) {
				delete(st.m, k)
			}
		}
	}
	if len(st.m) >= maxStatements {
		return nil, status.Error(codes.ResourceExhausted, "too many open statements; retry later")
	}

	st.m[string(handle)] = stmt
	return handle, nil
}

// dropOwned cancels and forgets every statement of owner.
func (st *statementStore) dropOwned(owner string) {
	st.mu.Lock()
	defer st.mu.Unlock()

	for k, stmt := range st.m {
		if stmt.owner == owner {
			stmt.cancel()
			delete(st.m, k)
		}
	}
}

// get returns the statement for handle if it exists, is fresh and
// belongs to owner. Other owners get the same NotFound as a bad handle.
func (st *statementStore) get(handle []byte, owner string) (*statement, error) {
	st.mu.Lock()
	defer st.mu.Unlock()

	stmt, ok := st.m[string(handle)]
	if !ok || stmt.owner != owner {
		return nil, status.Error(codes.NotFound, "unknown or expired statement handle")
	}
	if time.Now().After(stmt.expires) {
		delete(st.m, string(handle))
		return nil, status.Error(codes.NotFound, "unknown or expired statement handle")
	}
	return stmt, nil
}
