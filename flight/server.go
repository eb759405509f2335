// Package flight serves arrow-mino's PocketBase database over Arrow Flight SQL.
//
// Superusers (and, with Options.AllowReadOnlyRole, other auth records as
// readers) get catalog and key metadata, queries, prepared statements with
// bound parameters, updates and DDL, transactions with savepoints, bulk
// ingest, cancellation and sessions (session.go; a cookie-less client's
// connection is its session, connections.go). Result schemas are derived
// from declared column types and PocketBase collection fields, never from
// data. Client SQL is confined by an SQLite authorizer (guard.go); writes
// go through PocketBase's single write connection (write.go), keep
// PocketBase's field rules (validate.go) and relation rules (cascade.go)
// inside the statement, and are re-announced to PocketBase hooks and
// realtime subscribers after commit (changes.go).
package flight

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/pocketbase/pocketbase/core"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// DefaultAddr is the listen address used when Options.Addr is empty.
const DefaultAddr = "127.0.0.1:8091"

// stopGrace bounds how long Stop waits for in-flight calls before it
// cuts every connection.
const stopGrace = 3 * time.Second

// Defaults of Options fields left zero.
const (
	DefaultWriteWait    = 10 * time.Second
	DefaultTxWriteLease = 5 * time.Second
	DefaultIdleTimeout  = 10 * time.Minute
)

// Options configures a Server. The zero value is usable.
type Options struct {
	// Addr is the TCP listen address; DefaultAddr when empty.
	Addr string

	// WriteWait bounds how long a write waits for PocketBase's single
	// write connection; DefaultWriteWait (PocketBase's busy_timeout) when 0.
	WriteWait time.Duration

	// TxWriteLease bounds how long a Flight transaction may hold the
	// write connection after its first write, i.e. how long PocketBase's
	// own writes can be held up by it; DefaultTxWriteLease when 0. The
	// transaction is rolled back when the lease ends.
	TxWriteLease time.Duration

	// IdleTimeout expires sessions, prepared statements and transactions
	// that were not used for this long; DefaultIdleTimeout when 0.
	IdleTimeout time.Duration

	// AllowReadOnlyRole admits records of non-superuser auth collections
	// (with their email and password, or an auth token); they may query
	// every user table (collection API rules do not apply) but never
	// write. Off by default: only superusers connect.
	AllowReadOnlyRole bool

	// ScanParallelism splits plain full-table scans over this many read
	// connections (see parallel.go): 0 picks 2 on machines with two or
	// more cores, 1 always reads serially, more is capped at 4. Split
	// scans return rows in rowid order within each range only.
	ScanParallelism int

	// DriverScan reads plain full-table scans through database/sql like
	// every other query. Off by default: such scans step SQLite through
	// its C API on their own read-only connections (rawscan.go), which
	// skips the driver's per-value locking, boxing and copying.
	DriverScan bool

	// TLSCertFile and TLSKeyFile, when both set, serve TLS with this
	// PEM certificate and key; otherwise the server speaks plaintext
	// (keep it on loopback then).
	TLSCertFile string
	TLSKeyFile  string
}

// Server is a Flight SQL server over one PocketBase app.
type Server struct {
	flightsql.BaseServer

	app    core.App
	opts   Options
	logger *slog.Logger

	auth     *authenticator
	stmts    *statementStore
	prepared *preparedStore
	txns     *txnStore
	sessions *sessionStore
	shapes   *shapeCache

	// rawSlots bounds the raw scan connections open at once (rawscan.go);
	// past it scans use PocketBase's pool.
	rawSlots chan struct{}

	// streams counts DoGet goroutines still holding a read connection;
	// Stop waits for them so none outlives PocketBase's database.
	streams sync.WaitGroup

	mu       sync.Mutex
	grpcSrv  *grpc.Server
	listener net.Listener
	stopped  bool
	done     chan struct{}
}

// New returns a Server for app. It does not listen until Start.
func New(app core.App, opts Options) *Server {
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	if opts.WriteWait <= 0 {
		opts.WriteWait = DefaultWriteWait
	}
	if opts.TxWriteLease <= 0 {
		opts.TxWriteLease = DefaultTxWriteLease
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}

	logger := app.Logger().With("component", "flight")

	sessions := newSessionStore(opts.IdleTimeout)
	s := &Server{
		app:      app,
		opts:     opts,
		logger:   logger,
		auth:     newAuthenticator(app, logger, opts.AllowReadOnlyRole, sessions),
		stmts:    newStatementStore(),
		sessions: sessions,
		shapes:   newShapeCache(),

		rawSlots: make(chan struct{}, maxRawConns),
	}
	s.prepared = newPreparedStore(opts.IdleTimeout)
	s.txns = newTxnStore(opts.IdleTimeout)

	s.watchSchema()

	// Every value in sqlInfo has a supported type, so this cannot fail
	// unless sqlInfo is edited wrongly; log rather than refuse to start.
	if err := s.registerSqlInfo(); err != nil {
		logger.Error("registering flight sql info", "error", err)
	}

	return s
}

// watchSchema clears the shape cache whenever PocketBase changes a
// collection, before any later query can be described.
func (s *Server) watchSchema() {
	forget := func(e *core.CollectionEvent) error {
		s.shapes.invalidate()
		return e.Next()
	}

	s.app.OnCollectionAfterCreateSuccess().BindFunc(forget)
	s.app.OnCollectionAfterUpdateSuccess().BindFunc(forget)
	s.app.OnCollectionAfterDeleteSuccess().BindFunc(forget)
}

// Start listens on Options.Addr and serves gRPC in a goroutine. Listen
// errors are returned; serve errors after that are logged.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()

	if s.grpcSrv != nil || s.stopped {
		return errors.New("flight: server already started or stopped")
	}

	// Recovery runs outermost so a panic in auth is caught too.
	serverOpts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(s.recoverUnary, s.auth.unary),
		grpc.ChainStreamInterceptor(s.recoverStream, s.auth.stream),
		// Reused workers keep the deep stacks SQLite calls grow; a fresh
		// goroutine per call would copy its stack several times per query.
		grpc.NumStreamWorkers(uint32(max(4, 2*runtime.NumCPU()))),
		// Connections are sessions for clients without a cookie.
		grpc.StatsHandler(&connectionTracker{closed: s.connectionClosed}),
	}
	if (s.opts.TLSCertFile == "") != (s.opts.TLSKeyFile == "") {
		return errors.New("flight: TLSCertFile and TLSKeyFile must be set together")
	}
	if s.opts.TLSCertFile != "" {
		creds, err := credentials.NewServerTLSFromFile(s.opts.TLSCertFile, s.opts.TLSKeyFile)
		if err != nil {
			return fmt.Errorf("flight: loading TLS certificate: %w", err)
		}
		serverOpts = append(serverOpts, grpc.Creds(creds))
	}

	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("flight: listening on %s: %w", s.opts.Addr, err)
	}

	srv := grpc.NewServer(serverOpts...)
	flight.RegisterFlightServiceServer(srv, &service{
		FlightServer: flightsql.NewFlightServer(s),
		srv:          s,
	})

	s.grpcSrv = srv
	s.listener = ln
	s.done = make(chan struct{})

	go func() {
		defer close(s.done)

		if err := srv.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			s.logger.Error("serving flight sql", "error", err)
		}
	}()

	s.logger.Info("flight sql listening", "addr", ln.Addr().String())
	return nil
}

// Addr returns the actual listen address, or Options.Addr before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()

	if s.listener == nil {
		return s.opts.Addr
	}
	return s.listener.Addr().String()
}

// Stop drains in-flight calls for a few seconds, then closes every
// connection. It is safe to call more than once and before Start.
func (s *Server) Stop() {
	s.mu.Lock()
	srv, done := s.grpcSrv, s.done
	already := s.stopped
	s.stopped = true
	s.mu.Unlock()

	if already || srv == nil {
		return
	}

	// Open Flight transactions may hold PocketBase's writer: give it back
	// before PocketBase shuts down.
	s.txns.endAll("server stopping")

	// GracefulStop waits for open streams, which a client may hold forever.
	graceful := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(graceful)
	}()

	select {
	case <-graceful:
	case <-time.After(stopGrace):
		s.logger.Warn("flight sql graceful stop timed out, forcing", "after", stopGrace.String())
		srv.Stop()
	}

	<-done

	// Stopping cancelled every call's context, so streaming goroutines
	// end at their next row; wait briefly for them to release their
	// connections before main lets PocketBase close the databases.
	drained := make(chan struct{})
	go func() {
		s.streams.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(stopGrace):
		s.logger.Warn("flight sql streams still running after stop")
	}

	s.logger.Info("flight sql stopped")
}

// service overrides Handshake of the generated Flight SQL service; every
// other call goes to flightsql's dispatcher, which calls back into Server.
type service struct {
	flight.FlightServer
	srv *Server
}

// Handshake answers with the bearer token the auth interceptor prepared.
// Authentication itself already happened in the interceptor.
func (h *service) Handshake(stream flight.FlightService_HandshakeServer) error {
	ident, ok := identityFrom(stream.Context())
	if !ok || ident.token == "" {
		return status.Error(codes.Unauthenticated, "handshake requires Basic credentials or a Bearer token")
	}

	if err := stream.SendHeader(bearerHeader(ident.token)); err != nil {
		return fmt.Errorf("sending handshake header: %w", err)
	}

	// Some clients wait for one response message; its payload is the token
	// too, which token-in-payload clients can use.
	return stream.Send(&flight.HandshakeResponse{Payload: []byte(ident.token)})
}

// recoverUnary turns a panic in a unary call into codes.Internal.
func (s *Server) recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = s.panicked(info.FullMethod, r)
		}
	}()

	return handler(ctx, req)
}

// recoverStream turns a panic in a streaming call into codes.Internal.
func (s *Server) recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = s.panicked(info.FullMethod, r)
		}
	}()

	return handler(srv, ss)
}

func (s *Server) panicked(method string, r any) error {
	s.logger.Error("panic in flight call", "method", method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	return status.Error(codes.Internal, "internal server error")
}
