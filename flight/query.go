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

const (
	// batchTargetBytes cuts record batches by approximate size so no IPC
	// message comes near the 4 MiB default gRPC receive limit of clients.
	batchTargetBytes = 1 << 20
	// batchMaxRows bounds a batch of tiny rows, for client memory.
	batchMaxRows = 64 * 1024
	// statementTTL is how long a ticket from GetFlightInfo stays valid.
	statementTTL = 10 * time.Minute
	// maxStatements caps stored handles per server.
	maxStatements = 10000
)

// statement is a query a client sent with GetFlightInfo, kept server side;
// the ticket only carries a random handle to it.
type statement struct {
	query   string
	userID  string
	shape   resultShape
	expires time.Time
}

// statementStore maps random handles to statements. Handles are 32 random
// bytes, so a ticket cannot be forged into other SQL or guessed; each one
// is also bound to the superuser who created it.
type statementStore struct {
	mu sync.Mutex
	m  map[string]*statement
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

	now := time.Now()
	for k, v := range st.m {
		if now.After(v.expires) {
			delete(st.m, k)
		}
	}
	if len(st.m) >= maxStatements {
		return nil, status.Error(codes.ResourceExhausted, "too many open statements; retry later")
	}

	st.m[string(handle)] = stmt
	return handle, nil
}

// get returns the statement for handle if it exists, is fresh and
// belongs to userID. Other users get the same NotFound as a bad handle.
func (st *statementStore) get(handle []byte, userID string) (*statement, error) {
	st.mu.Lock()
	defer st.mu.Unlock()

	stmt, ok := st.m[string(handle)]
	if !ok || stmt.userID != userID {
		return nil, status.Error(codes.NotFound, "unknown or expired statement handle")
	}
	if time.Now().After(stmt.expires) {
		delete(st.m, string(handle))
		return nil, status.Error(codes.NotFound, "unknown or expired statement handle")
	}
	return stmt, nil
}

// describe validates a client query and derives its result shape without
// running it.
func (s *Server) describe(ctx context.Context, query string) (resultShape, error) {
	if err := checkSingleStatement(query); err != nil {
		return resultShape{}, err
	}

	g, err := acquireGuarded(ctx, s.app)
	if err != nil {
		return resultShape{}, err
	}
	defer g.release()

	cols, err := g.columnInfo(query)
	if err != nil {
		return resultShape{}, err
	}
	if len(cols) == 0 {
		// Only statements without result columns (writes, DDL, empty
		// text) get here, and the authorizer already refuses writes.
		return resultShape{}, status.Error(codes.InvalidArgument, "statement returns no columns; only queries are supported")
	}

	return shapeOf(s.app, cols), nil
}

// GetFlightInfoStatement validates the query, stores it under a random
// handle and announces its schema.
func (s *Server) GetFlightInfoStatement(ctx context.Context, cmd flightsql.StatementQuery, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	ident, ok := identityFrom(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "not authenticated")
	}
	if cmd.GetTransactionId() != nil {
		return nil, status.Error(codes.Unimplemented, "transactions are not supported")
	}

	query := cmd.GetQuery()
	shape, err := s.describe(ctx, query)
	if err != nil {
		s.logger.Info("flight query refused", "user", ident.email, "error", err)
		return nil, err
	}

	handle, err := s.stmts.put(&statement{query: query, userID: ident.userID, shape: shape, expires: time.Now().Add(statementTTL)})
	if err != nil {
		return nil, err
	}

	ticket, err := flightsql.CreateStatementQueryTicket(handle)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "encoding ticket: %v", err)
	}

	return &flight.FlightInfo{
		Schema:           flight.SerializeSchema(shape.schema, memory.DefaultAllocator),
		FlightDescriptor: desc,
		Endpoint:         []*flight.FlightEndpoint{{Ticket: &flight.Ticket{Ticket: ticket}}},
		TotalRecords:     -1,
		TotalBytes:       -1,
	}, nil
}

// GetSchemaStatement returns the schema a query would stream.
func (s *Server) GetSchemaStatement(ctx context.Context, cmd flightsql.StatementQuery, _ *flight.FlightDescriptor) (*flight.SchemaResult, error) {
	if cmd.GetTransactionId() != nil {
		return nil, status.Error(codes.Unimplemented, "transactions are not supported")
	}

	shape, err := s.describe(ctx, cmd.GetQuery())
	if err != nil {
		return nil, err
	}

	return &flight.SchemaResult{Schema: flight.SerializeSchema(shape.schema, memory.DefaultAllocator)}, nil
}

// DoGetStatement runs a stored statement on a guarded read connection and
// streams it with the schema announced in GetFlightInfo.
func (s *Server) DoGetStatement(ctx context.Context, ticket flightsql.StatementQueryTicket) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	ident, ok := identityFrom(ctx)
	if !ok {
		return nil, nil, status.Error(codes.Unauthenticated, "not authenticated")
	}

	stmt, err := s.stmts.get(ticket.GetStatementHandle(), ident.userID)
	if err != nil {
		return nil, nil, err
	}

	ch, err := s.stream(ctx, stmt.query, stmt.shape)
	if err != nil {
		return nil, nil, err
	}
	return stmt.shape.schema, ch, nil
}

// stream starts query and feeds record batches of the announced shape
// into the returned channel. Errors before the first row are returned
// directly so the client gets a proper status code.
func (s *Server) stream(ctx context.Context, query string, announced resultShape) (<-chan flight.StreamChunk, error) {
	g, err := acquireGuarded(ctx, s.app)
	if err != nil {
		return nil, err
	}

	// The schema may have changed since GetFlightInfo (a collection was
	// edited); streaming a different schema would break clients.
	cols, err := g.columnInfo(query)
	if err != nil {
		g.release()
		return nil, err
	}
	if now := shapeOf(s.app, cols); !now.schema.Equal(announced.schema) {
		g.release()
		return nil, status.Error(codes.Aborted, "the result schema changed since GetFlightInfo; execute the query again")
	}

	rows, err := g.conn.QueryContext(ctx, query)
	if err != nil {
		g.release()
		return nil, g.sqlError("running query", err)
	}

	ch := make(chan flight.StreamChunk, 1)

	s.streams.Add(1)
	go func() {
		defer s.streams.Done()
		defer close(ch)
		defer g.release()
		defer rows.Close()

		// This goroutine is outside the gRPC recovery interceptor.
		defer func() {
			if r := recover(); r != nil {
				sendChunk(ctx, ch, flight.StreamChunk{Err: s.panicked("DoGetStatement", r)})
			}
		}()

		bb := newBatchBuilder(memory.DefaultAllocator, announced)
		defer bb.release()

		n := len(announced.kinds)
		values := make([]any, n)
		ptrs := make([]any, n)
		for i := range values {
			ptrs[i] = &values[i]
		}

		total := 0
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				sendChunk(ctx, ch, flight.StreamChunk{Err: g.sqlError("reading row", err)})
				return
			}

			bb.appendRow(values)
			total++

			// Only full batches are sent mid-stream, so no empty batch
			// ever appears in the middle.
			if bb.bytes >= batchTargetBytes || bb.rows >= batchMaxRows {
				if !sendChunk(ctx, ch, flight.StreamChunk{Data: bb.flush()}) {
					return
				}
			}
		}

		if err := rows.Err(); err != nil {
			sendChunk(ctx, ch, flight.StreamChunk{Err: g.sqlError("reading rows", err)})
			return
		}

		// An empty result sends the schema and no batch at all.
		if bb.rows > 0 {
			sendChunk(ctx, ch, flight.StreamChunk{Data: bb.flush()})
		}

		if bb.bad > 0 {
			s.logger.Warn("flight query had values that did not fit their column type; sent as null",
				"rows", total, "nulled_values", bb.bad)
		}
	}()

	return ch, nil
}

// sendChunk delivers a chunk unless the call is gone; it releases the
// chunk's data when it cannot be delivered.
func sendChunk(ctx context.Context, ch chan<- flight.StreamChunk, c flight.StreamChunk) bool {
	select {
	case ch <- c:
		return true
	case <-ctx.Done():
		if c.Data != nil {
			c.Data.Release()
		}
		return false
	}
}
