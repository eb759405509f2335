package flight

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

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

// readPolicy is the authorizer state for one client statement. With
// write unset it allows reads only; with write set it also allows DML on
// user tables and DDL on tables that are not PocketBase collections.
type readPolicy struct {
	// hidden lists "table\x00column" pairs that read as NULL: auth
	// collections' password hashes and token keys, which PocketBase never
	// shows, not even to superusers.
	hidden map[string]bool

	// write allows INSERT, UPDATE, DELETE and plain-table DDL.
	write bool
	// collections holds the lower-cased table names of PocketBase
	// collections: their schema belongs to PocketBase, so DDL on them is
	// refused (it would desynchronise the collection cache and dashboard).
	collections map[string]bool
	// authTables holds the lower-cased names of auth collections: an
	// INSERT there would write password and tokenKey columns.
	authTables map[string]bool

	mu       sync.Mutex
	denied   string // first denial, for the error message
	wrote    bool   // a write action was authorized
	internal bool   // the server's own BEGIN/COMMIT/ROLLBACK is running
	ddl      bool   // the statement changes the schema
}

// authorize is the SQLite authorizer callback. It must not touch the
// connection, so it only reads the policy.
func (p *readPolicy) authorize(action sqlite.AuthorizerActionCode, arg1, arg2, _, _ string) sqlite.AuthorizerReturnCode {
	switch action {
	case sqlite.AuthSelect, sqlite.AuthRecursive, sqlite.AuthFunction:
		return sqlite.AuthorizerOK

	case sqlite.AuthRead:
		// DDL re-reads the schema table in SQLite's own nested statements.
		if isSchemaTable(arg1) && p.isDDL() {
			return sqlite.AuthorizerOK
		}
		if isInternalTable(arg1) {
			p.deny(fmt.Sprintf("reading internal table %q is not allowed", arg1))
			return sqlite.AuthorizerDeny
		}
		if p.hidden[arg1+"\x00"+arg2] {
			return sqlite.AuthorizerIgnore
		}
		return sqlite.AuthorizerOK
	}

	if (action == sqlite.AuthTransaction || action == sqlite.AuthSavepoint) && p.isInternal() {
		return sqlite.AuthorizerOK
	}

	if !p.write {
		p.deny("only read-only SELECT statements are allowed")
		return sqlite.AuthorizerDeny
	}

	return p.authorizeWrite(action, arg1, arg2)
}

// authorizeWrite decides the write actions of a write statement.
func (p *readPolicy) authorizeWrite(action sqlite.AuthorizerActionCode, arg1, arg2 string) sqlite.AuthorizerReturnCode {
	switch action {
	case sqlite.AuthInsert, sqlite.AuthUpdate, sqlite.AuthDelete:
		// DDL is coded as writes to the schema table, which SQLite itself
		// refuses to let statements modify directly (no writable_schema).
		if isSchemaTable(arg1) {
			p.markDDL()
			return sqlite.AuthorizerOK
		}
		if isInternalTable(arg1) {
			p.deny(fmt.Sprintf("writing internal table %q is not allowed", arg1))
			return sqlite.AuthorizerDeny
		}
		if action == sqlite.AuthInsert && p.authTables[strings.ToLower(arg1)] {
			p.deny(fmt.Sprintf("inserting into auth collection %q is not allowed: it would write password and tokenKey", arg1))
			return sqlite.AuthorizerDeny
		}
		if action == sqlite.AuthUpdate && p.hidden[arg1+"\x00"+arg2] {
			p.deny(fmt.Sprintf("writing secret column %s.%s is not allowed", arg1, arg2))
			return sqlite.AuthorizerDeny
		}
		if action == sqlite.AuthUpdate && p.collections[strings.ToLower(arg1)] && strings.EqualFold(arg2, core.FieldNameId) {
			p.deny(fmt.Sprintf("changing the id of %q records is not allowed: PocketBase record ids never change", arg1))
			return sqlite.AuthorizerDeny
		}
		p.markWrote()
		return sqlite.AuthorizerOK

	case sqlite.AuthCreateTable, sqlite.AuthDropTable:
		return p.allowDDL(arg1)

	case sqlite.AuthCreateIndex, sqlite.AuthDropIndex:
		// PRIMARY KEY and UNIQUE constraints create sqlite_autoindex_*.
		if isInternalTable(arg1) && !strings.HasPrefix(strings.ToLower(arg1), "sqlite_autoindex_") {
			p.deny(fmt.Sprintf("index name %q is reserved", arg1))
			return sqlite.AuthorizerDeny
		}
		return p.allowDDL(arg2)

	case sqlite.AuthAlterTable:
		// arg1 is the database name, arg2 the table.
		return p.allowDDL(arg2)

	default:
		// Triggers and views would later run with PocketBase's own rights
		// (no authorizer), so they could read or write secrets: refused,
		// like PRAGMA, ATTACH, temp objects and transaction control.
		p.deny(fmt.Sprintf("statement kind %d is not allowed over Flight SQL", int(action)))
		return sqlite.AuthorizerDeny
	}
}

// allowDDL permits schema changes of plain tables only.
func (p *readPolicy) allowDDL(table string) sqlite.AuthorizerReturnCode {
	if isInternalTable(table) {
		p.deny(fmt.Sprintf("changing internal table %q is not allowed", table))
		return sqlite.AuthorizerDeny
	}
	if p.collections[strings.ToLower(table)] {
		p.deny(fmt.Sprintf("%q is a PocketBase collection: change its schema in PocketBase", table))
		return sqlite.AuthorizerDeny
	}
	p.markWrote()
	return sqlite.AuthorizerOK
}

// isHidden reports whether a column is secret (never read or written).
func (p *readPolicy) isHidden(table, column string) bool {
	return p.hidden[table+"\x00"+column]
}

// setInternal marks the server's own transaction control statements.
func (p *readPolicy) setInternal(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()

	p.internal = on
}

func (p *readPolicy) isInternal() bool {
	p.mu.Lock()
	defer p.mu.Unlock()

	return p.internal
}

func (p *readPolicy) markDDL() {
	p.mu.Lock()
	defer p.mu.Unlock()

	p.ddl = true
}

func (p *readPolicy) isDDL() bool {
	p.mu.Lock()
	defer p.mu.Unlock()

	return p.ddl
}

func (p *readPolicy) markWrote() {
	p.mu.Lock()
	defer p.mu.Unlock()

	p.wrote = true
}

// didWrite reports whether any write action was authorized.
func (p *readPolicy) didWrite() bool {
	p.mu.Lock()
	defer p.mu.Unlock()

	return p.wrote
}

// reset clears the per-statement state before the next statement.
func (p *readPolicy) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()

	p.denied, p.wrote, p.ddl = "", false, false
}

// isSchemaTable reports SQLite's schema and sequence tables, which DDL and
// AUTOINCREMENT write as part of an allowed statement.
func isSchemaTable(name string) bool {
	switch strings.ToLower(name) {
	case "sqlite_master", "sqlite_schema", "sqlite_sequence":
		return true
	}
	return false
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

// newPolicy collects the secret columns of every auth collection and,
// for writes, the collection tables. It reads PocketBase's collection
// cache, so it costs no query; the derived sets are shared between
// policies until that cache changes.
func newPolicy(app core.App, write bool) *readPolicy {
	t, err := tablesOf(app)
	if err != nil {
		// Fail closed: without the list every secret would be readable.
		return &readPolicy{write: false, denied: "collection list unavailable"}
	}

	return &readPolicy{hidden: t.hidden, write: write, collections: t.collections, authTables: t.authTables}
}

// policyTables are the read-only sets a policy consults.
type policyTables struct {
	app    core.App
	ident  **core.Collection
	hidden map[string]bool
	// collections and authTables hold lower-cased table names.
	collections map[string]bool
	authTables  map[string]bool
}

// lastTables is the most recent policyTables; rebuilt when the app or
// its collection cache differs.
var lastTables atomic.Pointer[policyTables]

// tablesOf returns the policy sets for app's current collections.
func tablesOf(app core.App) (*policyTables, error) {
	ident := cacheIdentity(app)
	if t := lastTables.Load(); t != nil && ident != nil && t.app == app && t.ident == ident {
		return t, nil
	}

	collections, err := cachedCollections(app)
	if err != nil {
		return nil, err
	}

	t := &policyTables{
		app:         app,
		ident:       ident,
		hidden:      map[string]bool{},
		collections: map[string]bool{},
		authTables:  map[string]bool{},
	}
	for _, c := range collections {
		t.collections[strings.ToLower(c.Name)] = true
		if c.IsAuth() {
			t.authTables[strings.ToLower(c.Name)] = true
			t.hidden[c.Name+"\x00"+core.FieldNamePassword] = true
			t.hidden[c.Name+"\x00"+core.FieldNameTokenKey] = true
		}
	}

	if ident != nil {
		lastTables.Store(t)
	}
	return t, nil
}

// acquireGuarded takes a connection from the concurrent (read) pool and
// installs the read-only authorizer on it. Release must be called.
func acquireGuarded(ctx context.Context, app core.App) (*guardedConn, error) {
	db, ok := app.ConcurrentDB().(*dbx.DB)
	if !ok {
		return nil, status.Error(codes.Internal, "concurrent database is not a *dbx.DB")
	}

	return acquire(ctx, db.DB(), newPolicy(app, false))
}

// acquire takes a connection from pool and installs policy on it.
func acquire(ctx context.Context, pool *sql.DB, policy *readPolicy) (*guardedConn, error) {
	conn, err := pool.Conn(ctx)
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
		if hook, ok := dc.(preUpdateHooker); ok {
			hook.RegisterPreUpdateHook(nil)
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

// cachedCollections returns PocketBase's in-memory collection list, or
// reads the collections when the cache is not loaded yet.
func cachedCollections(app core.App) ([]*core.Collection, error) {
	if cached, ok := app.Store().Get(core.StoreKeyCachedCollections).([]*core.Collection); ok && cached != nil {
		return cached, nil
	}

	collections, err := app.FindAllCollections()
	if err != nil {
		return nil, fmt.Errorf("listing collections: %w", err)
	}
	return collections, nil
}

// preUpdateHooker is the modernc connection's pre-update hook setter.
type preUpdateHooker interface {
	RegisterPreUpdateHook(sqlite.PreUpdateHookFn)
}
