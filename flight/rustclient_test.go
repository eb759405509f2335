package flight_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// rustClientTimeout bounds one node run: start, connect, call, decode.
const rustClientTimeout = 30 * time.Second

// rustClient runs testdata/rust-client/client.cjs, a wrapper around the
// Rust arrow-flight Flight SQL client, against one server.
type rustClient struct {
	node    string
	script  string
	modules string
	host    string
	port    string
}

// rustField is one schema field as apache-arrow (JS) names it.
type rustField struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Nullable bool   `json:"nullable"`
}

// rustAnswer is what client.cjs prints for a successful call.
type rustAnswer struct {
	Schema []rustField         `json:"schema"`
	Rows   [][]json.RawMessage `json:"rows"`
}

// newRustClient finds node and the npm install made by `make test-deps`;
// without them it skips, or fails when CI is set.
func newRustClient(t *testing.T, e *env) *rustClient {
	t.Helper()

	missing := func(why string) {
		msg := fmt.Sprintf("Rust Flight SQL client unavailable (%s): run make test-deps", why)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}

	node, err := exec.LookPath("node")
	if err != nil {
		missing(fmt.Sprintf("finding node: %v", err))
	}

	modules := os.Getenv("FLIGHTSQL_NODE_MODULES")
	if modules == "" {
		modules = filepath.Join("..", ".bin", "rust-client", "node_modules")
	}
	modules, err = filepath.Abs(modules)
	if err != nil {
		t.Fatalf("resolving node modules directory: %v", err)
	}
	pkg := filepath.Join(modules, "@lakehouse-rs", "flight-sql-client", "package.json")
	if _, err := os.Stat(pkg); err != nil {
		missing(fmt.Sprintf("checking the npm install: %v", err))
	}

	script, err := filepath.Abs(filepath.Join("testdata", "rust-client", "client.cjs"))
	if err != nil {
		t.Fatalf("resolving client script: %v", err)
	}

	host, port, err := net.SplitHostPort(e.server.Addr())
	if err != nil {
		t.Fatalf("splitting server address %q: %v", e.server.Addr(), err)
	}

	return &rustClient{node: node, script: script, modules: modules, host: host, port: port}
}

// run executes one command with the given credentials. A non-zero exit
// is returned as an error carrying the client's stderr.
func (c *rustClient) run(t *testing.T, email, password, command string, args ...string) (*rustAnswer, error) {
	t.Helper()

	ctx, cancel := context.WithTimeout(context.Background(), rustClientTimeout)
	defer cancel()

	argv := append([]string{c.script, c.host, c.port, command}, args...)
	cmd := exec.CommandContext(ctx, c.node, argv...)
	cmd.Env = append(os.Environ(),
		"FLIGHTSQL_NODE_MODULES="+c.modules,
		"FLIGHTSQL_USER="+email,
		"FLIGHTSQL_PASSWORD="+password,
	)
	var stdout bytes.Buffer
	stderr := &panicWatch{cancel: cancel}
	cmd.Stdout = &stdout
	cmd.Stderr = stderr

	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.buf.String())
		if stderr.panicked {
			return nil, fmt.Errorf("rust client %s panicked: %s", command, msg)
		}
		if ctx.Err() != nil {
			t.Fatalf("rust client %s: timed out after %v (stderr %q)", command, rustClientTimeout, msg)
		}
		return nil, fmt.Errorf("rust client %s: %w: %s", command, err, msg)
	}

	var ans rustAnswer
	if err := json.Unmarshal(stdout.Bytes(), &ans); err != nil {
		t.Fatalf("decoding rust client %s output %q: %v", command, stdout.String(), err)
	}
	return &ans, nil
}

// panicWatch collects the client's stderr and stops the process once
// the Rust addon has reported a panic: its promise then never settles.
type panicWatch struct {
	buf      bytes.Buffer
	cancel   context.CancelFunc
	panicked bool
}

func (w *panicWatch) Write(p []byte) (int, error) {
	w.buf.Write(p)
	if w.panicked {
		return len(p), nil
	}

	// Rust ends a panic report with a backtrace or a note about one;
	// waiting for it keeps the whole message.
	_, report, found := bytes.Cut(w.buf.Bytes(), []byte("panicked at"))
	ended := bytes.Contains(report, []byte("\nnote: ")) || bytes.Contains(report, []byte("\nstack backtrace:"))
	if found && ended {
		w.panicked = true
		w.cancel()
	}
	return len(p), nil
}

// mustRun is run for calls that must succeed.
func (c *rustClient) mustRun(t *testing.T, command string, args ...string) *rustAnswer {
	t.Helper()

	ans, err := c.run(t, suEmail, suPassword, command, args...)
	if err != nil {
		t.Fatal(err)
	}
	return ans
}

// column decodes column i of every row as Go JSON values.
func (a *rustAnswer) column(t *testing.T, i int) []any {
	t.Helper()

	var out []any
	for r, row := range a.Rows {
		if len(row) != len(a.Schema) {
			t.Fatalf("row %d has %d cells for %d fields", r, len(row), len(a.Schema))
		}
		var v any
		if err := json.Unmarshal(row[i], &v); err != nil {
			t.Fatalf("decoding row %d cell %d: %v", r, i, err)
		}
		out = append(out, v)
	}
	return out
}

// jsTypeName is the apache-arrow (JS) name of an arrow-go type, for the
// types this server sends; the test fails on any other.
func jsTypeName(t *testing.T, dt arrow.DataType) string {
	t.Helper()

	switch dt.ID() {
	case arrow.BOOL:
		return "Bool"
	case arrow.INT32:
		return "Int32"
	case arrow.INT64:
		return "Int64"
	case arrow.FLOAT64:
		return "Float64"
	case arrow.STRING:
		return "Utf8"
	case arrow.BINARY:
		return "Binary"
	case arrow.TIMESTAMP:
		ts := dt.(*arrow.TimestampType)
		unit := map[arrow.TimeUnit]string{
			arrow.Second:      "SECOND",
			arrow.Millisecond: "MILLISECOND",
			arrow.Microsecond: "MICROSECOND",
			arrow.Nanosecond:  "NANOSECOND",
		}[ts.Unit]
		if ts.TimeZone == "" {
			return "Timestamp<" + unit + ">"
		}
		return "Timestamp<" + unit + ", " + ts.TimeZone + ">"
	}
	t.Fatalf("no apache-arrow name known for %v", dt)
	return ""
}

// jsSchema is s as client.cjs prints it, for comparing with the Go client.
func jsSchema(t *testing.T, s *arrow.Schema) []rustField {
	t.Helper()

	out := []rustField{}
	for _, f := range s.Fields() {
		out = append(out, rustField{Name: f.Name, Type: jsTypeName(t, f.Type), Nullable: f.Nullable})
	}
	return out
}

// goTableSchemas lists every table's schema as the arrow-go client
// decodes GetTables' table_schema column.
func goTableSchemas(t *testing.T, e *env) map[string]*arrow.Schema {
	t.Helper()

	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)
	info, err := cl.GetTables(ctx, &flightsql.GetTablesOpts{IncludeSchema: true})
	if err != nil {
		t.Fatalf("GetTables with the Go client: %v", err)
	}
	res := fetch(t, ctx, cl, info)

	out := map[string]*arrow.Schema{}
	for _, b := range res.batches {
		names := b.Column(2).(*array.String)
		schemas := b.Column(4).(*array.Binary)
		for i := 0; i < int(b.NumRows()); i++ {
			s, err := aflight.DeserializeSchema(schemas.Value(i), nil)
			if err != nil {
				t.Fatalf("decoding table_schema of %s: %v", names.Value(i), err)
			}
			out[names.Value(i)] = s
		}
	}
	return out
}

// TestRustFlightSQLClient talks to the server with the Rust arrow-flight
// client (through node), an implementation independent of arrow-go:
// Basic credentials in a Handshake, then a bearer token on every call.
func TestRustFlightSQLClient(t *testing.T) {
	e := newEnv(t)
	createPosts(t, e.app)
	rc := newRustClient(t, e)

	t.Run("query", func(t *testing.T) {
		const sql = "SELECT ok, n, meta FROM posts ORDER BY id"
		ans := rc.mustRun(t, "query", sql)

		// The types come from the declared columns (BOOLEAN, NUMERIC,
		// JSON); nullability must match what arrow-go reads.
		goRes := query(t, basicCtx(suEmail, suPassword), e.client(t), sql)
		wantSchema := jsSchema(t, goRes.schema)
		for i, typ := range []string{"Bool", "Float64", "Utf8"} {
			if wantSchema[i].Type != typ {
				t.Fatalf("arrow-go sees field %d as %s, want %s", i, wantSchema[i].Type, typ)
			}
		}
		if !reflect.DeepEqual(ans.Schema, wantSchema) {
			t.Fatalf("schema: got %+v, want %+v", ans.Schema, wantSchema)
		}

		want := [][]any{
			{true, false},
			{float64(1), nil},
			{`{"k":1}`, nil},
		}
		for i, w := range want {
			if got := ans.column(t, i); !reflect.DeepEqual(got, w) {
				t.Errorf("column %s: got %#v, want %#v", ans.Schema[i].Name, got, w)
			}
		}
	})

	t.Run("tables with schema", func(t *testing.T) {
		ans := rc.mustRun(t, "tables")

		names := []string{}
		for _, f := range ans.Schema {
			names = append(names, f.Name)
		}
		want := []string{"catalog_name", "db_schema_name", "table_name", "table_type", "table_schema"}
		if !reflect.DeepEqual(names, want) {
			t.Fatalf("fields: got %v, want %v", names, want)
		}

		goSchemas := goTableSchemas(t, e)
		seen := map[string]bool{}
		for r, row := range ans.Rows {
			var name string
			if err := json.Unmarshal(row[2], &name); err != nil {
				t.Fatalf("decoding table_name of row %d: %v", r, err)
			}
			var got []rustField
			if err := json.Unmarshal(row[4], &got); err != nil {
				t.Fatalf("decoding table_schema of %s: %v", name, err)
			}

			goSchema, ok := goSchemas[name]
			if !ok {
				t.Fatalf("Rust client lists %s, the Go client does not", name)
			}
			if want := jsSchema(t, goSchema); !reflect.DeepEqual(got, want) {
				t.Errorf("schema of %s: got %+v, want %+v", name, got, want)
			}
			seen[name] = true
		}
		if len(seen) != len(goSchemas) || !seen["posts"] {
			t.Fatalf("tables: got %v, want posts among %d tables", seen, len(goSchemas))
		}
	})

	t.Run("catalogs and schemas", func(t *testing.T) {
		cl := e.client(t)
		ctx := basicCtx(suEmail, suPassword)

		cases := []struct {
			command string
			info    func() (*aflight.FlightInfo, error)
		}{
			{"catalogs", func() (*aflight.FlightInfo, error) {
				return cl.GetCatalogs(ctx)
			}},
			{"schemas", func() (*aflight.FlightInfo, error) {
				return cl.GetDBSchemas(ctx, &flightsql.GetDBSchemasOpts{})
			}},
		}
		for _, c := range cases {
			ans := rc.mustRun(t, c.command)

			info, err := c.info()
			if err != nil {
				t.Fatalf("%s with the Go client: %v", c.command, err)
			}
			goRes := fetch(t, ctx, cl, info)

			if want := jsSchema(t, goRes.schema); !reflect.DeepEqual(ans.Schema, want) {
				t.Errorf("%s schema: got %+v, want %+v", c.command, ans.Schema, want)
			}
			if int64(len(ans.Rows)) != goRes.rows() {
				t.Fatalf("%s: got %d rows, want %d", c.command, len(ans.Rows), goRes.rows())
			}
			for i := range ans.Schema {
				want := goRes.column(i)
				if got := ans.column(t, i); !reflect.DeepEqual(got, want) {
					t.Errorf("%s column %d: got %#v, want %#v", c.command, i, got, want)
				}
			}
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		// The addon panics on a failed Handshake (a client bug), but the
		// panic message carries the server's status, which is what counts.
		ans, err := rc.run(t, suEmail, "not-"+suPassword, "query", "SELECT 1")
		if err == nil {
			t.Fatalf("wrong password answered %+v", ans)
		}
		if !strings.Contains(err.Error(), "Unauthenticated") {
			t.Fatalf("wrong password: got %v, want an Unauthenticated error", err)
		}
	})

	t.Run("internal table refused", func(t *testing.T) {
		const sql = "SELECT * FROM _superusers"

		// The Rust client always prepares; the refusal must come from the
		// server's guard on that path.
		_, goErr := e.client(t).Prepare(basicCtx(suEmail, suPassword), sql)
		if status.Code(goErr) != codes.PermissionDenied {
			t.Fatalf("Prepare(%q) with the Go client: got %v, want PermissionDenied", sql, goErr)
		}

		// The addon drops the gRPC status from this error (a client
		// limit), so only its own wording can be checked.
		ans, err := rc.run(t, suEmail, suPassword, "query", sql)
		if err == nil {
			t.Fatalf("%s answered %+v", sql, ans)
		}
		msg := err.Error()
		if strings.Contains(msg, "panicked") || !strings.Contains(msg, "failed to prepare statement") {
			t.Fatalf("internal table: got %v, want a failed prepare", err)
		}

		// The refusal ends one call, not the server. count(*) has no
		// declared type, so it arrives as text.
		var n int
		if err := e.app.DB().NewQuery("SELECT count(*) FROM posts").Row(&n); err != nil {
			t.Fatalf("counting posts: %v", err)
		}
		ans = rc.mustRun(t, "query", "SELECT count(*) AS n FROM posts")
		if got, want := ans.column(t, 0), []any{strconv.Itoa(n)}; !reflect.DeepEqual(got, want) {
			t.Fatalf("count after refusal: got %#v, want %#v", got, want)
		}
	})
}
