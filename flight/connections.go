package flight

import (
	"context"
	"sync/atomic"

	"google.golang.org/grpc/stats"
)

// A client that keeps no session cookie (the arrow-go database/sql driver,
// most tools) has one implicit session: its gRPC connection. When that
// connection closes, the transactions and prepared statements it opened
// go with it: a transaction is rolled back at once, rather than holding
// PocketBase's writer until its lease ends, and its handles stop taking
// memory before they would expire. Work made inside a cookie session
// outlives a connection, as cookies are meant to.

// connectionIDKey carries the connection id in a call's context.
type connectionIDKey struct{}

// connectionID returns the id of the gRPC connection a call came on, or 0.
func connectionID(ctx context.Context) uint64 {
	id, _ := ctx.Value(connectionIDKey{}).(uint64)
	return id
}

// connectionTracker numbers connections and reports their end.
type connectionTracker struct {
	next   atomic.Uint64
	closed func(id uint64)
}

// TagConn gives each connection an id that its calls' contexts carry.
func (ct *connectionTracker) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return context.WithValue(ctx, connectionIDKey{}, ct.next.Add(1))
}

// HandleConn reports the end of a connection.
func (ct *connectionTracker) HandleConn(ctx context.Context, s stats.ConnStats) {
	if _, ended := s.(*stats.ConnEnd); ended {
		if id := connectionID(ctx); id != 0 {
			ct.closed(id)
		}
	}
}

// TagRPC leaves calls as they are.
func (ct *connectionTracker) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	return ctx
}

// HandleRPC ignores per-call statistics.
func (ct *connectionTracker) HandleRPC(context.Context, stats.RPCStats) {}

// connectionClosed ends what a closed connection left open outside any
// cookie session.
func (s *Server) connectionClosed(id uint64) {
	ended := s.txns.endOnConnection(id, "the client's connection closed; the transaction was rolled back")
	dropped := s.prepared.dropOnConnection(id)
	if ended > 0 || dropped > 0 {
		s.logger.Info("flight connection closed; its work was released",
			"transactions_rolled_back", ended, "prepared_statements_dropped", dropped)
	}
}
