package flight_test

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestSingleHugeRow streams one row larger than the 4 MiB gRPC default
// between ordinary rows: a client that accepts large messages (ADBC's
// default is 16 MiB) receives every row, and a client with the default
// limit gets a clear error while the server stays up.
func TestSingleHugeRow(t *testing.T) {
	e := newEnv(t)
	mustExec(t, e.app, "CREATE TABLE huge (id INTEGER PRIMARY KEY, body TEXT)")
	mustExec(t, e.app, "INSERT INTO huge (id, body) VALUES (1, 'small'), (3, 'after')")
	mustExec(t, e.app, "INSERT INTO huge (id, body) VALUES (2, printf('%.*c', 6291456, 'x'))")
	ctx := basicCtx(suEmail, suPassword)

	large, err := flightsql.NewClient(e.server.Addr(), nil, nil,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20)))
	if err != nil {
		t.Fatal(err)
	}
	defer large.Close()

	got := query(t, ctx, large, "SELECT id, body FROM huge ORDER BY id")
	bodies := got.column(1)
	if got.rows() != 3 || len(bodies) != 3 {
		t.Fatalf("%d rows, want 3", got.rows())
	}
	if body, _ := bodies[1].(string); len(body) != 6<<20 || strings.Trim(body, "x") != "" {
		t.Fatalf("the huge row came back with %d bytes", len(body))
	}
	if bodies[0] != "small" || bodies[2] != "after" {
		t.Fatalf("neighbours %v, %v", bodies[0], bodies[2])
	}

	// The default client refuses the big message with a clear error ...
	small := e.client(t)
	info, err := small.Execute(ctx, "SELECT id, body FROM huge ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	reader, err := small.DoGet(ctx, info.Endpoint[0].Ticket)
	if err == nil {
		for reader.Next() {
		}
		err = reader.Err()
		reader.Release()
	}
	if err == nil || !strings.Contains(err.Error(), "larger than max") {
		t.Fatalf("default client: %v, want a message-size error", err)
	}

	// ... and the server goes on serving.
	if got := query(t, ctx, small, "SELECT id FROM huge WHERE id = 1"); got.rows() != 1 {
		t.Fatalf("after the huge row: %d rows", got.rows())
	}
}
