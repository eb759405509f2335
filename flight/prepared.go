package flight

import (
	"context"
	"crypto/rand"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/pocketbase/dbx"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Prepared statements. JDBC and Python DB-API prepare every statement,
// DML and DDL included, and DB-API then runs even an UPDATE through the
// query path (GetFlightInfo + DoGet). So a prepared write reports
// is_update and an empty dataset schema, and GetFlightInfo on it runs the
// write exactly once and hands back a ticket that streams nothing.

// emptySchema is the dataset schema of statements that return no rows.
var emptySchema = arrow.NewSchema(nil, nil)

// prepared is one prepared statement, owned by the user (or the session,
// see session.go) that made it.
type prepared struct {
	query string
	owner string
	// connection, when not 0, drops the statement when it closes.
	connection uint64
	txID       []byte
	isUpdate   bool
	params     *arrow.Schema

	mu       sync.Mutex
	args     [][]any
	lastUsed time.Time
	// shape is the result shape derived under stamp; a prepared query
	// run under a newer schema is described again (currentShape).
	shape resultShape
	stamp schemaStamp
}

// boundArgs returns the last bound parameter rows.
func (p *prepared) boundArgs() [][]any {
	p.mu.Lock()
	defer p.mu.Unlock()

	return p.args
}

// preparedStore maps random handles to prepared statements; a handle
// unused for longer than idle is dropped.
type preparedStore struct {
	idle time.Duration

	mu        sync.Mutex
	m         map[string]*prepared
	lastSweep time.Time
}

func newPreparedStore(idle time.Duration) *preparedStore {
	return &preparedStore{idle: idle, m: map[string]*prepared{}}
}

func (ps *preparedStore) put(p *prepared) ([]byte, error) {
	handle := make([]byte, 32)
	if _, err := rand.Read(handle); err != nil {
		return nil, status.Errorf(codes.Internal, "generating prepared statement handle: %v", err)
	}

	ps.mu.Lock()
	defer ps.mu.Unlock()

	now := time.Now()
	if now.Sub(ps.lastSweep) > time.Second || len(ps.m) >= maxStatements {
		ps.lastSweep = now
		for k, v := range ps.m {
			v.mu.Lock()
			stale := now.Sub(v.lastUsed) > ps.idle
			v.mu.Unlock()
			if stale {
				delete(ps.m, k)
			}
		}
	}
	if len(ps.m) >= maxStatements {
		return nil, status.Error(codes.ResourceExhausted, "too many open prepared statements; close some")
	}

	p.lastUsed = now
	ps.m[string(handle)] = p
	return handle, nil
}

// dropOwned forgets every prepared statement of owner.
func (ps *preparedStore) dropOwned(owner string) {
	ps.dropWhere(func(p *prepared) bool { return p.owner == owner })
}

// dropOnConnection forgets the statements tied to a closed connection and
// returns how many there were.
func (ps *preparedStore) dropOnConnection(connection uint64) int {
	return ps.dropWhere(func(p *prepared) bool { return p.connection == connection })
}

// dropWhere forgets the statements that match and returns how many.
func (ps *preparedStore) dropWhere(match func(*prepared) bool) int {
	ps.mu.Lock()
	defer ps.mu.Unlock()

	n := 0
	for k, p := range ps.m {
		if match(p) {
			delete(ps.m, k)
			n++
		}
	}
	return n
}

// get returns the caller's statement and marks it used. Another user's
// handle gets the same NotFound as an unknown one.
func (ps *preparedStore) get(handle []byte, owner string) (*prepared, error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()

	p, ok := ps.m[string(handle)]
	if !ok || p.owner != owner {
		return nil, status.Error(codes.NotFound, "unknown, closed or expired prepared statement")
	}

	p.mu.Lock()
	defer p.mu.Unlock()

	if time.Since(p.lastUsed) > ps.idle {
		delete(ps.m, string(handle))
		return nil, status.Error(codes.NotFound, "unknown, closed or expired prepared statement")
	}
	p.lastUsed = time.Now()
	return p, nil
}

// CreatePreparedStatement classifies the statement (query or update)
// without running it and derives its dataset and parameter schemas.
func (s *Server) CreatePreparedStatement(ctx context.Context, req flightsql.ActionCreatePreparedStatementRequest) (flightsql.ActionCreatePreparedStatementResult, error) {
	var res flightsql.ActionCreatePreparedStatementResult

	ident, ok := identityFrom(ctx)
	if !ok {
		return res, status.Error(codes.Unauthenticated, "not authenticated")
	}

	query := req.GetQuery()
	if err := checkSingleStatement(query); err != nil {
		return res, err
	}
	if txID := req.GetTransactionId(); len(txID) > 0 {
		if _, err := s.txns.get(txID, ident.owner()); err != nil {
			return res, err
		}
	}

	stamp := s.shapes.stamp(s.app)
	p, err := s.classify(ctx, ident, query)
	if err != nil {
		s.logger.Info("flight prepare refused", "user", ident.email, "error", err)
		return res, err
	}
	p.stamp = stamp
	p.owner = ident.owner()
	p.connection = ident.implicitConnection()
	p.txID = req.GetTransactionId()

	if p.params, err = s.parameterSchema(ctx, query); err != nil {
		return res, err
	}

	handle, err := s.prepared.put(p)
	if err != nil {
		return res, err
	}

	res.Handle = handle
	res.ParameterSchema = p.params
	res.DatasetSchema = p.shape.schema
	isUpdate := p.isUpdate
	res.IsUpdate = &isUpdate
	return res, nil
}

// classify prepares (never steps) the statement under the write policy
// on a read connection: the authorizer reports whether it writes, and
// refuses it if it touches anything off limits.
func (s *Server) classify(ctx context.Context, ident identity, query string) (*prepared, error) {
	db, ok := s.app.ConcurrentDB().(*dbx.DB)
	if !ok {
		return nil, status.Error(codes.Internal, "concurrent database is not a *dbx.DB")
	}

	// A cached classification only names the shape and whether the
	// statement writes; execution still runs under the guard.
	key, cacheable := s.shapes.key(s.app, query, !ident.readOnly)
	if cacheable {
		if hit, ok := s.shapes.get(key); ok {
			return &prepared{query: query, shape: hit.shape, isUpdate: hit.isUpdate}, nil
		}
	}

	g, err := acquire(ctx, db.DB(), newPolicy(s.app, !ident.readOnly))
	if err != nil {
		return nil, err
	}
	defer g.release()

	cols, err := g.columnInfo(query)
	if err != nil {
		return nil, err
	}

	p := &prepared{query: query}
	if g.policy.didWrite() || len(cols) == 0 {
		p.isUpdate = true
		p.shape = resultShape{schema: emptySchema}
	} else {
		p.shape = withSerialized(shapeOf(s.app, cols))
	}

	// DDL is not cached: once it ran, preparing it again fails or means
	// something else, and that error belongs to the prepare.
	if cacheable && !g.policy.isDDL() && (p.isUpdate || p.shape.cache == key.cols) {
		s.shapes.put(key, &cachedShape{shape: p.shape, isUpdate: p.isUpdate})
	}
	return p, nil
}

// ClosePreparedStatement drops the caller's statement.
func (s *Server) ClosePreparedStatement(ctx context.Context, req flightsql.ActionClosePreparedStatementRequest) error {
	ident, ok := identityFrom(ctx)
	if !ok {
		return status.Error(codes.Unauthenticated, "not authenticated")
	}

	if _, err := s.prepared.get(req.GetPreparedStatementHandle(), ident.owner()); err != nil {
		return err
	}

	s.prepared.mu.Lock()
	delete(s.prepared.m, string(req.GetPreparedStatementHandle()))
	s.prepared.mu.Unlock()
	return nil
}

// DoPutPreparedStatementQuery binds parameters: every row of the batches
// sent is one set of arguments. The handle stays the same.
func (s *Server) DoPutPreparedStatementQuery(ctx context.Context, cmd flightsql.PreparedStatementQuery, rdr flight.MessageReader, _ flight.MetadataWriter) ([]byte, error) {
	p, err := s.preparedFor(ctx, cmd.GetPreparedStatementHandle())
	if err != nil {
		return nil, err
	}

	args, err := readArgs(rdr, p.params)
	if err != nil {
		return nil, err
	}

	p.mu.Lock()
	p.args = args
	p.mu.Unlock()

	return cmd.GetPreparedStatementHandle(), nil
}

// readArgs reads all parameter rows sent in a DoPut.
func readArgs(rdr flight.MessageReader, params *arrow.Schema) ([][]any, error) {
	var args [][]any
	for rdr.Next() {
		rows, err := argRows(rdr.RecordBatch())
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "reading parameters: %v", err)
		}
		args = append(args, rows...)
	}
	if err := rdr.Err(); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "reading parameters: %v", err)
	}

	for _, row := range args {
		if len(row) != len(params.Fields()) {
			return nil, status.Errorf(codes.InvalidArgument, "got %d parameters, the statement has %d", len(row), len(params.Fields()))
		}
	}
	return args, nil
}

// currentShape returns the prepared query's result shape under today's
// schema, describing it again when a collection or table changed since:
// the FlightInfo then carries the new schema and the stream matches it.
func (s *Server) currentShape(ctx context.Context, ident identity, p *prepared) (resultShape, error) {
	now := s.shapes.stamp(s.app)

	p.mu.Lock()
	shape, stamp := p.shape, p.stamp
	p.mu.Unlock()
	if p.isUpdate || stamp == now {
		return shape, nil
	}

	fresh, err := s.classify(ctx, ident, p.query)
	if err != nil {
		return resultShape{}, err
	}

	p.mu.Lock()
	p.shape, p.stamp = fresh.shape, now
	p.mu.Unlock()
	return fresh.shape, nil
}

// DoPutPreparedStatementUpdate runs a prepared write once per parameter
// row sent with it (or per row bound before, or once with none).
func (s *Server) DoPutPreparedStatementUpdate(ctx context.Context, cmd flightsql.PreparedStatementUpdate, rdr flight.MessageReader) (int64, error) {
	ident, _ := identityFrom(ctx)
	p, err := s.preparedFor(ctx, cmd.GetPreparedStatementHandle())
	if err != nil {
		return 0, err
	}
	if err := s.requireWriter(ident); err != nil {
		return 0, err
	}

	args, err := readArgs(rdr, p.params)
	if err != nil {
		return 0, err
	}
	if len(args) == 0 {
		args = p.boundArgs()
	}

	return s.write(ctx, ident, p.txID, p.query, args)
}

// GetFlightInfoPreparedStatement executes the statement with its bound
// parameters: a query gets a ticket, a write runs now, exactly once.
func (s *Server) GetFlightInfoPreparedStatement(ctx context.Context, cmd flightsql.PreparedStatementQuery, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	ident, _ := identityFrom(ctx)
	p, err := s.preparedFor(ctx, cmd.GetPreparedStatementHandle())
	if err != nil {
		return nil, err
	}

	shape, err := s.currentShape(ctx, ident, p)
	if err != nil {
		return nil, err
	}
	stmt := &statement{query: p.query, owner: ident.owner(), shape: shape, args: p.boundArgs(), txID: p.txID}

	if p.isUpdate {
		if err := s.requireWriter(ident); err != nil {
			return nil, err
		}
		n, err := s.write(ctx, ident, p.txID, p.query, stmt.args)
		if err != nil {
			return nil, err
		}
		stmt.noResult = true
		info, err := s.ticketInfo(desc, stmt)
		if err == nil {
			info.TotalRecords = 0
			s.logger.Debug("flight prepared write ran", "user", ident.email, "rows", n)
		}
		return info, err
	}

	return s.ticketInfo(desc, stmt)
}

// GetSchemaPreparedStatement returns the dataset schema.
func (s *Server) GetSchemaPreparedStatement(ctx context.Context, cmd flightsql.PreparedStatementQuery, _ *flight.FlightDescriptor) (*flight.SchemaResult, error) {
	ident, _ := identityFrom(ctx)
	p, err := s.preparedFor(ctx, cmd.GetPreparedStatementHandle())
	if err != nil {
		return nil, err
	}
	shape, err := s.currentShape(ctx, ident, p)
	if err != nil {
		return nil, err
	}
	schema := shape.serialized
	if schema == nil {
		schema = flight.SerializeSchema(shape.schema, memory.DefaultAllocator)
	}
	return &flight.SchemaResult{Schema: schema}, nil
}

// preparedFor looks up the caller's prepared statement.
func (s *Server) preparedFor(ctx context.Context, handle []byte) (*prepared, error) {
	ident, ok := identityFrom(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "not authenticated")
	}
	return s.prepared.get(handle, ident.owner())
}
