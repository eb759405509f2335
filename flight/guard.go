package flight

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"modernc.org/sqlite"
)

// Client SQL is confined with SQLite's authorizer (modernc.org/sqlite
// AuthorizerRegisterer), installed on the pooled read connection for
// exactly as long as the client statement is prepared and stepped, then
// removed before the connection goes back to PocketBase's pool.
//
// Why the authorizer and not a check of the SQL text: SQLite itself reports
// every table and column a statement touches, through views, subqueries,
// CTEs and joins alike, so `SELECT * FROM v` where v reads _superusers is
// refused exactly like a direct read. The policy is fail-closed: any action
// not listed as allowed is denied, which refuses every write, DDL, PRAGMA,
// ATTACH and transaction statement.

// guardedConn is one connection of PocketBase's concurrent pool with the
// read-only authorizer installed.
type guardedConn struct {
	conn   *sql.Conn
	policy *readPolicy
}

// readPolicy is the authorizer state for one client statement.
type readPolicy struct {
	// hidden lists "table\x00column" pairs that read as NULL: auth
	// collections' password hashes and token keys, which PocketBase never
	// shows, not even to superusers.
	hidden map[string]bool

	mu     sync.Mutex
	denied string // first denial, for the error message
}

// authorize is the SQLite authorizer callback. It must not touch the
// connection, so it only reads the policy.
func (p *readPolicy) authorize(action sqlite.AuthorizerActionCode, arg1, arg2, _, _ string) sqlite.AuthorizerReturnCode {
	switch action {
	case sqlite.AuthSelect, sqlite.AuthRecursive, sqlite.AuthFunction:
		return sqlite.AuthorizerOK

	case sqlite.AuthRead:
		if isInternalTable(arg1) {
			p.deny(fmt.Sprintf("reading internal table %q is not allowed", arg1))
			return sqlite.AuthorizerDeny
		}
		if p.hidden[arg1+"\x00"+arg2] {
			return sqlite.AuthorizerIgnore
		}
		return sqlite.AuthorizerOK

	default:
		p.deny("only read-only SELECT statements are allowed")
		return sqlite.AuthorizerDeny
	}
}

func (p *readPolicy) deny(reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()

	if p.denied == "" {
		p.denied = reason
	}
}

func (p *readPolicy) reason() string {
	p.mu.Lock()
	defer p.mu.Unlock()

	return p.denied
}

// isInternalTable reports PocketBase system tables (_superusers, _params,
// ...) and SQLite's own tables (sqlite_master, sqlite_stat1, ...).
func isInternalTable(name string) bool {
	return strings.HasPrefix(name, "_") || strings.HasPrefix(strings.ToLower(name), "sqlite_")
}

// hiddenColumns collects the secret columns of every auth collection.
func hiddenColumns(app core.App) map[string]bool {
	hidden := map[string]bool{}

	collections, err := app.FindAllCollections(core.CollectionTypeAuth)
	if err != nil {
		return hidden
	}

	for _, c := range collections {
		hidden[c.Name+"\x00"+core.FieldNamePassword] = true
		hidden[c.Name+"\x00"+core.FieldNameTokenKey] = true
	}
	return hidden
}

// acquireGuarded takes a connection from the concurrent (read) pool and
// installs the read-only authorizer on it. Release must be called.
func acquireGuarded(ctx context.Context, app core.App) (*guardedConn, error) {
	db, ok := app.ConcurrentDB().(*dbx.DB)
	if !ok {
		return nil, status.Error(codes.Internal, "concurrent database is not a *dbx.DB")
	}

	// Look the secret columns up before holding a pooled connection.
	policy := &readPolicy{hidden: hiddenColumns(app)}

	conn, err := db.DB().Conn(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "getting a read connection: %v", err)
	}

	g := &guardedConn{conn: conn, policy: policy}

	err = conn.Raw(func(dc any) error {
		reg, ok := dc.(sqlite.AuthorizerRegisterer)
		if !ok {
			return fmt.Errorf("driver connection %T has no authorizer", dc)
		}
		return reg.RegisterAuthorizer(g.policy.authorize)
	})
	if err != nil {
		conn.Close()
		// Fail closed: without the authorizer client SQL is not confined.
		return nil, status.Errorf(codes.Internal, "installing the SQL authorizer: %v", err)
	}

	return g, nil
}

// release removes the authorizer and returns the connection to the pool.
// If removal fails the connection is discarded instead, so no PocketBase
// query ever runs under the client policy.
func (g *guardedConn) release() {
	_ = g.conn.Raw(func(dc any) error {
		reg, ok := dc.(sqlite.AuthorizerRegisterer)
		if !ok {
			return driver.ErrBadConn
		}
		if err := reg.RegisterAuthorizer(nil); err != nil {
			return driver.ErrBadConn
		}
		return nil
	})

	g.conn.Close()
}

// columnInfo prepares query (without stepping it) under the authorizer and
// returns where each result column comes from.
func (g *guardedConn) columnInfo(query string) ([]sqlite.ColumnInfo, error) {
	var info []sqlite.ColumnInfo

	err := g.conn.Raw(func(dc any) error {
		ci, ok := dc.(interface {
			ColumnInfo(string) ([]sqlite.ColumnInfo, error)
		})
		if !ok {
			return fmt.Errorf("driver connection %T has no ColumnInfo", dc)
		}

		var err error
		info, err = ci.ColumnInfo(query)
		return err
	})
	if err != nil {
		return nil, g.sqlError("preparing statement", err)
	}

	return info, nil
}

// sqlError maps an SQLite error to a gRPC status; authorizer denials
// become PermissionDenied with the policy's reason.
func (g *guardedConn) sqlError(doing string, err error) error {
	if s, ok := status.FromError(err); ok && s.Code() != codes.Unknown {
		return err
	}

	if reason := g.policy.reason(); reason != "" {
		return status.Errorf(codes.PermissionDenied, "%s: %s", doing, reason)
	}

	var serr *sqlite.Error
	if errors.As(err, &serr) {
		return status.Errorf(codes.InvalidArgument, "%s: %s", doing, serr.Error())
	}
	if errors.Is(err, context.Canceled) {
		return status.Errorf(codes.Canceled, "%s: %v", doing, err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return status.Errorf(codes.DeadlineExceeded, "%s: %v", doing, err)
	}

	return status.Errorf(codes.Internal, "%s: %v", doing, err)
}

// checkSingleStatement refuses SQL text holding more than one statement.
// The driver would run every statement of a script but ColumnInfo only
// describes the first, so the announced schema could be wrong. It scans
// SQLite's lexical forms: '...' strings, "..." `...` [...] identifiers,
// -- and /* */ comments; a ';' outside them may only be followed by
// whitespace, comments and further ';'.
func checkSingleStatement(query string) error {
	if strings.TrimSpace(query) == "" {
		return status.Error(codes.InvalidArgument, "empty query")
	}

	ended := false
	for i := 0; i < len(query); i++ {
		c := query[i]

		switch {
		case c == '\'' || c == '"' || c == '`':
			if ended {
				return multiStatementErr
			}
			i = skipQuoted(query, i, c)

		case c == '[':
			if ended {
				return multiStatementErr
			}
			end := strings.IndexByte(query[i:], ']')
			if end < 0 {
				return nil // unterminated: SQLite reports the syntax error
			}
			i += end

		case c == '-' && i+1 < len(query) && query[i+1] == '-':
			end := strings.IndexByte(query[i:], '\n')
			if end < 0 {
				return nil
			}
			i += end

		case c == '/' && i+1 < len(query) && query[i+1] == '*':
			end := strings.Index(query[i+2:], "*/")
			if end < 0 {
				return nil
			}
			i += end + 3

		case c == ';':
			ended = true

		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':

		default:
			if ended {
				return multiStatementErr
			}
		}
	}

	return nil
}

var multiStatementErr = status.Error(codes.InvalidArgument, "only one SQL statement per query is allowed")

// skipQuoted returns the index of the closing quote of a quoted form
// starting at i; a doubled quote is an escaped quote.
func skipQuoted(s string, i int, q byte) int {
	for j := i + 1; j < len(s); j++ {
		if s[j] != q {
			continue
		}
		if j+1 < len(s) && s[j+1] == q {
			j++
			continue
		}
		return j
	}
	return len(s)
}
