package web

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"modernc.org/sqlite"
)

const (
	// consoleTimeout bounds one query; closing the tab ends it sooner.
	consoleTimeout = 2 * time.Minute

	// consoleShownRows is how many rows the page shows; downloads have
	// every row.
	consoleShownRows = 500

	// maxQueryLength bounds the SQL text a form may send.
	maxQueryLength = 64 << 10
)

// console runs superusers' ad-hoc queries on a read-only connection of
// its own, so nothing typed there can write, even by mistake, and
// PocketBase's pools are never held by a slow query.
type console struct {
	path string
	once sync.Once
	db   *sql.DB
	err  error
}

func newConsole(app core.App) *console {
	return &console{path: filepath.Join(app.DataDir(), "data.db")}
}

// open makes the pool on first use: most processes never run a query.
func (c *console) open() (*sql.DB, error) {
	c.once.Do(func() {
		dsn := "file:" + c.path + "?mode=ro&_pragma=query_only(1)&_pragma=busy_timeout(5000)"
		c.db, c.err = sql.Open("sqlite", dsn)
		if c.err == nil {
			c.db.SetMaxOpenConns(4)
		}
	})
	return c.db, c.err
}

// Close releases the pool.
func (c *console) Close() {
	if c.db != nil {
		c.db.Close()
	}
}

// queryResult is a running query: its columns, then rows on demand.
type queryResult struct {
	Columns []resultColumn
	rows    *sql.Rows
	conn    *sql.Conn
}

// resultColumn is a column's name and declared SQLite type.
type resultColumn struct {
	Name string
	Type string
}

// Query starts a read-only query under the console's authorizer.
// Callers must Close the result.
func (c *console) Query(ctx context.Context, query string) (*queryResult, error) {
	db, err := c.open()
	if err != nil {
		return nil, fmt.Errorf("open read-only database: %w", err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("get read-only connection: %w", err)
	}

	// The authorizer is installed for every query, so each connection
	// of the pool is checked whatever ran on it before.
	err = conn.Raw(func(driverConn any) error {
		registerer, ok := driverConn.(sqlite.AuthorizerRegisterer)
		if !ok {
			return errors.New("the SQLite driver offers no authorizer")
		}
		return registerer.RegisterAuthorizer(readOnlyAuthorizer)
	})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("install authorizer: %w", err)
	}

	rows, err := conn.QueryContext(ctx, query)
	if err != nil {
		conn.Close()
		return nil, explainRefusal(err)
	}
	types, err := rows.ColumnTypes()
	if err != nil {
		rows.Close()
		conn.Close()
		return nil, fmt.Errorf("read column types: %w", err)
	}

	result := &queryResult{rows: rows, conn: conn}
	for _, column := range types {
		result.Columns = append(result.Columns, resultColumn{Name: column.Name(), Type: column.DatabaseTypeName()})
	}
	return result, nil
}

// Next returns the next row, or nil at the end.
func (r *queryResult) Next() ([]any, error) {
	if !r.rows.Next() {
		return nil, r.rows.Err()
	}
	values := make([]any, len(r.Columns))
	pointers := make([]any, len(values))
	for i := range values {
		pointers[i] = &values[i]
	}
	if err := r.rows.Scan(pointers...); err != nil {
		return nil, fmt.Errorf("scan row: %w", err)
	}
	return values, nil
}

// Close ends the query and returns the connection.
func (r *queryResult) Close() {
	r.rows.Close()
	r.conn.Close()
}

// readOnlyAuthorizer lets statements read user tables and call
// functions, and nothing else: no writes, schema changes, ATTACH or
// PRAGMA, and no PocketBase internal table (their names start with
// "_": superusers, tokens, OTPs, settings).
func readOnlyAuthorizer(action sqlite.AuthorizerActionCode, table, _, _, _ string) sqlite.AuthorizerReturnCode {
	switch action {
	case sqlite.AuthSelect, sqlite.AuthFunction, sqlite.AuthRecursive:
		return sqlite.AuthorizerOK
	case sqlite.AuthRead:
		if strings.HasPrefix(table, "_") {
			return sqlite.AuthorizerDeny
		}
		return sqlite.AuthorizerOK
	}
	return sqlite.AuthorizerDeny
}

// explainRefusal turns SQLite's terse authorizer error into advice.
func explainRefusal(err error) error {
	text := err.Error()
	if strings.Contains(text, "not authorized") || strings.Contains(text, "authorization denied") || strings.Contains(text, "prohibited") {
		return fmt.Errorf("refused: the console only reads, and not PocketBase's internal \"_\" tables (%w)", err)
	}
	return err
}

// consolePageData is the console's form.
type consolePageData struct {
	Query string
}

// consoleOutput is a query's shown result.
type consoleOutput struct {
	Query     string
	Columns   []resultColumn
	Rows      [][]string
	Truncated bool
	Took      string
	Error     string
}

func (s *server) consolePage(e *core.RequestEvent) error {
	query := "SELECT bucket, kind, count(*) AS objects, sum(size) AS bytes\nFROM objects\nGROUP BY bucket, kind\nORDER BY bytes DESC"
	return s.page(e, http.StatusOK, "console", "console", consolePageData{Query: query})
}

// consoleRun shows the first rows of a query as a table.
func (s *server) consoleRun(e *core.RequestEvent) error {
	query, err := consoleQuery(e)
	if err != nil {
		return s.fragment(e, "console-result", consoleOutput{Error: err.Error()})
	}
	ctx, cancel := context.WithTimeout(e.Request.Context(), consoleTimeout)
	defer cancel()

	started := time.Now()
	out := consoleOutput{Query: query}
	result, err := s.console.Query(ctx, query)
	if err != nil {
		out.Error = err.Error()
		return s.fragment(e, "console-result", out)
	}
	defer result.Close()

	out.Columns = result.Columns
	for {
		row, err := result.Next()
		if err != nil {
			out.Error = err.Error()
			break
		}
		if row == nil {
			break
		}
		if len(out.Rows) == consoleShownRows {
			out.Truncated = true
			break
		}
		out.Rows = append(out.Rows, textRow(row))
	}
	out.Took = time.Since(started).Round(time.Millisecond).String()
	s.logger.Info("console query", "user", e.Auth.Email(), "rows", len(out.Rows), "took", out.Took)
	return s.fragment(e, "console-result", out)
}

func consoleQuery(e *core.RequestEvent) (string, error) {
	if !sameOrigin(e) {
		return "", errors.New("the query was sent from another site")
	}
	e.Request.Body = http.MaxBytesReader(e.Response, e.Request.Body, maxQueryLength+4096)
	query := strings.TrimSpace(e.Request.FormValue("query"))
	if query == "" {
		return "", errors.New("type a query first")
	}
	if len(query) > maxQueryLength {
		return "", errors.New("the query is too long")
	}
	return query, nil
}

// textRow prints SQLite values for the HTML table and CSV.
func textRow(row []any) []string {
	text := make([]string, len(row))
	for i, value := range row {
		switch v := value.(type) {
		case nil:
			text[i] = ""
		case []byte:
			text[i] = string(v)
		case time.Time:
			text[i] = v.UTC().Format(time.RFC3339Nano)
		default:
			text[i] = fmt.Sprint(v)
		}
	}
	return text
}
