package flight

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
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
)

// describe validates a client query and derives its result shape without
// running it. A shape described before under the same schema comes from
// the shape cache: the guard then runs only when the statement executes.
func (s *Server) describe(ctx context.Context, query string) (resultShape, error) {
	if err := checkSingleStatement(query); err != nil {
		return resultShape{}, err
	}

	key, cacheable := s.shapes.key(s.app, query, false)
	if cacheable {
		if hit, ok := s.shapes.get(key); ok {
			return hit.shape, nil
		}
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

	shape := withSerialized(shapeOf(s.app, cols))
	if cacheable && shape.cache == key.cols {
		s.shapes.put(key, &cachedShape{shape: shape})
	}
	return shape, nil
}

// GetFlightInfoStatement validates the query, stores it under a random
// handle and announces its schema.
func (s *Server) GetFlightInfoStatement(ctx context.Context, cmd flightsql.StatementQuery, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	ident, ok := identityFrom(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "not authenticated")
	}
	if txID := cmd.GetTransactionId(); len(txID) > 0 {
		if _, err := s.txns.get(txID, ident.owner()); err != nil {
			return nil, err
		}
	}

	query := cmd.GetQuery()
	shape, err := s.describe(ctx, query)
	if err != nil {
		s.logger.Info("flight query refused", "user", ident.email, "error", err)
		return nil, err
	}

	return s.ticketInfo(desc, &statement{query: query, owner: ident.owner(), shape: shape, txID: cmd.GetTransactionId()})
}

// ticketInfo stores stmt under a random handle and returns a FlightInfo
// with its schema and a ticket for it.
func (s *Server) ticketInfo(desc *flight.FlightDescriptor, stmt *statement) (*flight.FlightInfo, error) {
	stmt.expires = time.Now().Add(statementTTL)
	stmt.cancelled = make(chan struct{})
	handle, err := s.stmts.put(stmt)
	if err != nil {
		return nil, err
	}
	shape := stmt.shape

	ticket, err := flightsql.CreateStatementQueryTicket(handle)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "encoding ticket: %v", err)
	}

	schema := shape.serialized
	if schema == nil {
		schema = flight.SerializeSchema(shape.schema, memory.DefaultAllocator)
	}

	return &flight.FlightInfo{
		Schema:           schema,
		FlightDescriptor: desc,
		Endpoint:         []*flight.FlightEndpoint{{Ticket: &flight.Ticket{Ticket: ticket}}},
		TotalRecords:     -1,
		TotalBytes:       -1,
	}, nil
}

// GetSchemaStatement returns the schema a query would stream.
func (s *Server) GetSchemaStatement(ctx context.Context, cmd flightsql.StatementQuery, _ *flight.FlightDescriptor) (*flight.SchemaResult, error) {
	shape, err := s.describe(ctx, cmd.GetQuery())
	if err != nil {
		return nil, err
	}

	return &flight.SchemaResult{Schema: shape.serialized}, nil
}

// DoGetStatement runs a stored statement on a guarded read connection and
// streams it with the schema announced in GetFlightInfo.
func (s *Server) DoGetStatement(ctx context.Context, ticket flightsql.StatementQueryTicket) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	ident, ok := identityFrom(ctx)
	if !ok {
		return nil, nil, status.Error(codes.Unauthenticated, "not authenticated")
	}

	stmt, err := s.stmts.get(ticket.GetStatementHandle(), ident.owner())
	if err != nil {
		return nil, nil, err
	}

	if stmt.noResult {
		ch := make(chan flight.StreamChunk)
		close(ch)
		return stmt.shape.schema, ch, nil
	}

	if len(stmt.txID) > 0 {
		tx, err := s.txns.get(stmt.txID, ident.owner())
		if err != nil {
			return nil, nil, err
		}
		ch, handled, err := tx.read(ctx, s, stmt)
		if handled || err != nil {
			return stmt.shape.schema, ch, err
		}
	}

	select {
	case <-stmt.cancelled:
		return nil, nil, errCancelled
	default:
	}

	// The query context ends with the call or with CancelFlightInfo;
	// the goroutine started by queryContext ends with it.
	qctx, _ := stmt.queryContext(ctx)
	ch, err := s.stream(ctx, qctx, stmt.query, stmt.args, stmt.shape)
	if err != nil {
		return nil, nil, err
	}
	return stmt.shape.schema, ch, nil
}

// stream starts query and feeds record batches of the announced shape
// into the returned channel. Errors before the first row are returned
// directly so the client gets a proper status code.
//
// qctx runs the SQL; ctx (the call) carries the chunks, so a cancelled
// query can still tell the client it was cancelled.
func (s *Server) stream(ctx, qctx context.Context, query string, args [][]any, announced resultShape) (<-chan flight.StreamChunk, error) {
	if len(args) == 0 {
		args = [][]any{nil}
	}

	g, err := acquireGuarded(ctx, s.app)
	if err != nil {
		return nil, err
	}

	// The schema may have changed since GetFlightInfo (a collection was
	// edited, or DDL ran outside PocketBase and Flight); streaming a
	// different schema would break clients. The cached shapes are dropped
	// so that the client's next attempt is described afresh.
	schemaChanged := func() error {
		s.shapes.invalidate()
		s.logger.Info("flight query refused: result schema changed since GetFlightInfo", "query", query)
		return status.Error(codes.Aborted, "the result schema changed since GetFlightInfo; execute the query again")
	}

	// A plain full-table scan is split over several connections. It is
	// checked with a full re-derivation (one prepare is nothing next to a
	// table scan).
	if len(args) == 1 && args[0] == nil && plainScanTable(query) != "" {
		cols, err := g.columnInfo(query)
		if err != nil {
			g.release()
			return nil, err
		}
		if now := shapeOf(s.app, cols); !now.schema.Equal(announced.schema) {
			g.release()
			return nil, schemaChanged()
		}

		g.release()
		if ch, ok := s.streamParallel(ctx, qctx, query, cols, announced); ok {
			return ch, nil
		}
		if g, err = acquireGuarded(ctx, s.app); err != nil {
			return nil, err
		}
	}

	rows, err := g.conn.QueryContext(qctx, query, args[0]...)
	if err != nil {
		g.release()
		return nil, g.sqlError("running query", err)
	}

	// Other queries are checked against the running statement itself,
	// which saves a second prepare per point query.
	if !announced.stillHolds(s.app, rows) {
		rows.Close()
		g.release()
		return nil, schemaChanged()
	}

	bb := newBatchBuilder(memory.DefaultAllocator, announced)

	// Small results (point queries) are read right here, on the call's
	// own goroutine: no streaming goroutines, and SQLite runs on a stack
	// that has already grown.
	if len(args) == 1 {
		done, err := scanFew(rows, bb, inlineRows)
		if err != nil || done {
			rows.Close()
			g.release()
			return s.inlineResult(ctx, qctx, g, bb, err)
		}
	}

	ch := make(chan flight.StreamChunk, 1)

	s.streams.Add(1)
	go func() {
		defer s.streams.Done()
		defer close(ch)
		defer g.release()
		defer bb.release()

		// This goroutine is outside the gRPC recovery interceptor.
		defer func() {
			if r := recover(); r != nil {
				sendChunk(ctx, ch, flight.StreamChunk{Err: s.panicked("DoGetStatement", r)})
			}
		}()

		// A cancelled query stops sending even rows already scanned.
		send := func(rec arrow.RecordBatch) bool {
			if qctx.Err() != nil {
				rec.Release()
				return false
			}
			return sendChunk(ctx, ch, flight.StreamChunk{Data: rec})
		}

		for i := range args {
			if i > 0 {
				rows, err = g.conn.QueryContext(qctx, query, args[i]...)
				if err != nil {
					sendChunk(ctx, ch, flight.StreamChunk{Err: g.sqlError("running query", err)})
					return
				}
			}

			err := scanInto(rows, bb, send)
			rows.Close()
			if err != nil {
				if qctx.Err() != nil && ctx.Err() == nil {
					sendChunk(ctx, ch, flight.StreamChunk{Err: errCancelled})
				} else if ctx.Err() == nil {
					sendChunk(ctx, ch, flight.StreamChunk{Err: g.sqlError("reading rows", err)})
				}
				return
			}
		}

		// An empty result sends the schema and no batch at all.
		if bb.rows > 0 {
			send(bb.flush())
		}

		if bb.bad > 0 {
			s.logger.Warn("flight query had values that did not fit their column type; sent as null", "nulled_values", bb.bad)
		}
	}()

	return ch, nil
}

// inlineRows is how many rows stream reads before it hands the rest of a
// result to a streaming goroutine.
const inlineRows = 32

// scanFew appends up to limit rows of rows to bb; done reports that the
// result ended within them. It stops early once bb holds a batch's worth
// of bytes, leaving the flush to scanInto.
func scanFew(rows *sql.Rows, bb *batchBuilder, limit int) (done bool, err error) {
	n := len(bb.shape.kinds)
	vals := make([]any, n)
	ptrs := make([]any, n)
	for i := range ptrs {
		ptrs[i] = &vals[i]
	}

	for bb.rows < limit && bb.bytes < batchTargetBytes {
		if !rows.Next() {
			return true, rows.Err()
		}
		if err := rows.Scan(ptrs...); err != nil {
			return false, err
		}
		bb.appendRow(vals)
	}
	return false, nil
}

// inlineResult turns a result read entirely by scanFew (or its error)
// into a finished chunk channel. g is already released; it only maps
// errors.
func (s *Server) inlineResult(
	ctx, qctx context.Context, g *guardedConn, bb *batchBuilder, err error,
) (<-chan flight.StreamChunk, error) {
	defer bb.release()

	if err != nil {
		if qctx.Err() != nil && ctx.Err() == nil {
			return nil, errCancelled
		}
		return nil, g.sqlError("reading rows", err)
	}
	if qctx.Err() != nil {
		return nil, errCancelled
	}

	ch := make(chan flight.StreamChunk, 1)
	// An empty result sends the schema and no batch at all.
	if bb.rows > 0 {
		ch <- flight.StreamChunk{Data: bb.flush()}
	}
	close(ch)

	if bb.bad > 0 {
		s.logger.Warn("flight query had values that did not fit their column type; sent as null",
			"nulled_values", bb.bad)
	}
	return ch, nil
}

// errStopped reports that the receiver went away mid-stream.
var errStopped = errors.New("stream receiver gone")

// pipeRows is how many scanned rows travel from the scanning goroutine
// to the converting one at a time.
const pipeRows = 2048

// scanInto appends every row of rows to bb and hands each full batch to
// send. Only full batches go out mid-stream, so no empty batch ever
// appears in the middle.
//
// Scanning (inside SQLite) and converting to Arrow run on two goroutines
// joined by a few reused row buffers, so a full-table read keeps two
// cores busy instead of one; gRPC encodes and sends on a third.
func scanInto(rows *sql.Rows, bb *batchBuilder, send func(arrow.RecordBatch) bool) error {
	n := len(bb.shape.kinds)

	type chunk struct {
		vals []any
		rows int
	}
	// Buffers grow 32, 512, 2048 rows and are made only when needed: a
	// point query allocates one small buffer, a full scan soon moves rows
	// in large chunks through three reused ones.
	sizes := []int{32, 512, pipeRows}
	made := 0
	free := make(chan []any, len(sizes))
	full := make(chan chunk, len(sizes))
	next := func() []any {
		if made < len(sizes) {
			select {
			case b := <-free:
				return b
			default:
				made++
				return make([]any, sizes[made-1]*max(n, 1))
			}
		}
		return <-free
	}

	var stopped atomic.Bool
	converted := make(chan error, 1)
	go func() {
		var err error
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("converting rows: %v", r)
				stopped.Store(true)
			}
			// Keep returning buffers so the scanner never blocks.
			for c := range full {
				free <- c.vals
			}
			converted <- err
		}()

		for c := range full {
			for r := 0; r < c.rows && !stopped.Load(); r++ {
				bb.appendRow(c.vals[r*n : (r+1)*n])
				if bb.bytes >= batchTargetBytes || bb.rows >= batchMaxRows {
					if !send(bb.flush()) {
						err = errStopped
						stopped.Store(true)
					}
				}
			}
			clear(c.vals) // drop references to scanned strings early
			free <- c.vals
		}
	}()

	ptrs := make([]any, n)
	buf, r := next(), 0
	var scanErr error
	for !stopped.Load() && rows.Next() {
		for i := range ptrs {
			ptrs[i] = &buf[r*n+i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			scanErr = err
			break
		}

		r++
		if (r+1)*n > len(buf) {
			full <- chunk{vals: buf, rows: r}
			buf, r = next(), 0
		}
	}
	if r > 0 && scanErr == nil {
		full <- chunk{vals: buf, rows: r}
	}
	close(full)

	convErr := <-converted
	switch {
	case scanErr != nil:
		return scanErr
	case convErr != nil:
		return convErr
	default:
		return rows.Err()
	}
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

// CancelFlightInfo cancels the statements behind a FlightInfo's tickets:
// a stream in progress stops and ends with codes.Canceled, and a ticket
// not yet read is refused. Writes already ran when their FlightInfo was
// returned, so they are not cancellable.
func (s *Server) CancelFlightInfo(ctx context.Context, req *flight.CancelFlightInfoRequest) (flight.CancelFlightInfoResult, error) {
	// Results are built as literals: the type holds a protobuf mutex.
	result := flight.CancelStatusNotCancellable

	ident, ok := identityFrom(ctx)
	if !ok {
		return flight.CancelFlightInfoResult{Status: result}, status.Error(codes.Unauthenticated, "not authenticated")
	}
	if req.GetInfo() == nil {
		return flight.CancelFlightInfoResult{Status: result}, status.Error(codes.InvalidArgument, "cancel request carries no FlightInfo")
	}

	for _, ep := range req.GetInfo().GetEndpoint() {
		ticket, err := flightsql.GetStatementQueryTicket(ep.GetTicket())
		if err != nil {
			continue // a catalog ticket: nothing runs long
		}
		stmt, err := s.stmts.get(ticket.GetStatementHandle(), ident.owner())
		if err != nil || stmt.noResult {
			continue
		}
		stmt.cancel()
		result = flight.CancelStatusCancelled
	}
	return flight.CancelFlightInfoResult{Status: result}, nil
}
