package flight

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Savepoints nest inside a Flight transaction. A savepoint id is the
// transaction id followed by random bytes, so EndSavepoint finds its
// transaction; the SQL name is generated here, so no client string
// reaches SQL. Taking a savepoint counts as a write: it takes the writer
// and starts the lease.

// savepoint is one open savepoint of a transaction.
type savepoint struct {
	name string
	mark int // change-capture position when it was taken
}

// txIDLen is the length of transaction ids (see BeginTransaction).
const txIDLen = 16

// BeginSavepoint opens a savepoint in the caller's transaction.
func (s *Server) BeginSavepoint(ctx context.Context, req flightsql.ActionBeginSavepointRequest) ([]byte, error) {
	ident, ok := identityFrom(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "not authenticated")
	}

	tx, err := s.txns.get(req.GetTransactionId(), ident.owner())
	if err != nil {
		return nil, err
	}

	suffix := make([]byte, 8)
	if _, err := rand.Read(suffix); err != nil {
		return nil, status.Errorf(codes.Internal, "generating savepoint id: %v", err)
	}
	id := append(append([]byte(nil), req.GetTransactionId()...), suffix...)

	tx.mu.Lock()
	defer tx.mu.Unlock()

	if err := tx.usable(); err != nil {
		return nil, err
	}
	if err := tx.ensureWriter(ctx, s); err != nil {
		return nil, err
	}

	tx.spSeq++
	sp := savepoint{name: fmt.Sprintf("flight_sp_%d", tx.spSeq), mark: tx.w.changes.mark()}
	if err := tx.w.control(ctx, "SAVEPOINT "+sp.name); err != nil {
		return nil, status.Errorf(codes.Internal, "taking savepoint: %v", err)
	}

	if tx.savepoints == nil {
		tx.savepoints = map[string]savepoint{}
	}
	tx.savepoints[string(id)] = sp
	return id, nil
}

// EndSavepoint releases a savepoint or rolls back to it.
func (s *Server) EndSavepoint(ctx context.Context, req flightsql.ActionEndSavepointRequest) error {
	ident, ok := identityFrom(ctx)
	if !ok {
		return status.Error(codes.Unauthenticated, "not authenticated")
	}

	id := req.GetSavepointId()
	if len(id) <= txIDLen {
		return status.Error(codes.NotFound, "unknown savepoint")
	}
	tx, err := s.txns.get(id[:txIDLen], ident.owner())
	if err != nil {
		return err
	}

	tx.mu.Lock()
	defer tx.mu.Unlock()

	if err := tx.usable(); err != nil {
		return err
	}
	sp, ok := tx.savepoints[string(id)]
	if !ok || tx.w == nil {
		return status.Error(codes.NotFound, "unknown or already ended savepoint")
	}
	delete(tx.savepoints, string(id))

	switch req.GetAction() {
	case flightsql.EndSavepointRelease:
		if err := tx.w.control(ctx, "RELEASE "+sp.name); err != nil {
			return status.Errorf(codes.Internal, "releasing savepoint: %v", err)
		}
	case flightsql.EndSavepointRollback:
		if err := tx.w.control(ctx, "ROLLBACK TO "+sp.name); err != nil {
			return status.Errorf(codes.Internal, "rolling back to savepoint: %v", err)
		}
		if err := tx.w.control(ctx, "RELEASE "+sp.name); err != nil {
			return status.Errorf(codes.Internal, "releasing savepoint: %v", err)
		}
		// Undone rows must not be announced at commit.
		tx.w.changes.truncate(sp.mark)
	default:
		return status.Error(codes.InvalidArgument, "end savepoint action must be release or rollback")
	}
	return nil
}
