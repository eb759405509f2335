package flight

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/pocketbase/pocketbase/core"
)

// The shape cache spares GetFlightInfo the describe prepare (a connection,
// the authorizer, a parse and the schema serialisation) for statements
// seen before. It only ever answers "what columns would this return"; it
// never authorizes anything: every execution still runs on a guarded
// connection (DoGetStatement, write), and the running statement is checked
// against the cached shape (resultShape.stillHolds) before any row goes out.
//
// Entries are keyed by the statement text, whether it was classified under
// the write policy, the identity of PocketBase's collection cache (a new
// slice after every collection change) and a generation bumped by
// collection hooks and by DDL run through Flight. Other schema changes are
// caught at execution by stillHolds.

// shapeCacheMax bounds the entries; when full the cache starts over, since
// a miss only costs one describe.
const shapeCacheMax = 4096

// cachedShape is a described statement.
type cachedShape struct {
	shape resultShape
	// isUpdate marks statements the write policy saw writing (prepared
	// statements only; GetFlightInfoStatement refuses writes).
	isUpdate bool
}

type shapeKey struct {
	text  string
	write bool
	gen   uint64
	cols  **core.Collection
}

// shapeCache maps described statements to their shapes.
type shapeCache struct {
	gen atomic.Uint64

	mu sync.Mutex
	m  map[shapeKey]*cachedShape
}

func newShapeCache() *shapeCache {
	return &shapeCache{m: map[shapeKey]*cachedShape{}}
}

// invalidate forgets every shape; it is called when the schema changes.
func (sc *shapeCache) invalidate() {
	sc.gen.Add(1)

	sc.mu.Lock()
	defer sc.mu.Unlock()

	clear(sc.m)
}

// schemaStamp identifies the schema a shape was derived under: it changes
// with every collection change and every schema change seen at execution.
type schemaStamp struct {
	gen  uint64
	cols **core.Collection
}

// stamp returns the current schema stamp.
func (sc *shapeCache) stamp(app core.App) schemaStamp {
	return schemaStamp{gen: sc.gen.Load(), cols: cacheIdentity(app)}
}

// key returns the cache key of query under the current schema, or false
// when PocketBase's collection cache is not loaded (nothing to key on).
func (sc *shapeCache) key(app core.App, query string, write bool) (shapeKey, bool) {
	cols := cacheIdentity(app)
	if cols == nil {
		return shapeKey{}, false
	}
	return shapeKey{text: shapeText(query), write: write, gen: sc.gen.Load(), cols: cols}, true
}

func (sc *shapeCache) get(k shapeKey) (*cachedShape, bool) {
	sc.mu.Lock()
	defer sc.mu.Unlock()

	hit, ok := sc.m[k]
	return hit, ok
}

func (sc *shapeCache) put(k shapeKey, entry *cachedShape) {
	sc.mu.Lock()
	defer sc.mu.Unlock()

	// A key of an older generation can never be asked for again.
	if k.gen != sc.gen.Load() {
		return
	}
	if len(sc.m) >= shapeCacheMax {
		clear(sc.m)
	}
	sc.m[k] = entry
}

// withSerialized returns shape with its IPC schema bytes attached, so
// every FlightInfo of a cached shape reuses them.
func withSerialized(shape resultShape) resultShape {
	shape.serialized = flight.SerializeSchema(shape.schema, memory.DefaultAllocator)
	return shape
}

// shapeText is the cache text of query: point queries differ only in the
// literals they compare with (WHERE id = '...'), so string and numeric
// literals compared in the tail of a simple SELECT are replaced by a
// placeholder. Only literals after the top-level FROM, outside
// parentheses and right after a comparison operator or LIMIT/OFFSET are
// replaced: no result column name, declared type or origin can depend on
// them. Compound selects and anything unusual keep their exact text.
func shapeText(query string) string {
	var b strings.Builder
	depth, inTail, last, changed := 0, false, "", false

	for i := 0; i < len(query); i++ {
		c := query[i]

		switch {
		case c == '\'':
			end := skipQuoted(query, i, c)
			if end >= len(query) {
				return query // unterminated: let SQLite report it
			}
			if inTail && depth == 0 && replaceable(last) {
				b.WriteString("\x00s")
				changed = true
			} else {
				b.WriteString(query[i : end+1])
			}
			i, last = end, "lit"

		case c == '"' || c == '`' || c == '[':
			closing := c
			if c == '[' {
				closing = ']'
			}
			end := strings.IndexByte(query[i+1:], closing)
			if end < 0 {
				return query
			}
			b.WriteString(query[i : i+end+2])
			i, last = i+end+1, "ident"

		case c >= '0' && c <= '9':
			j := i
			for j < len(query) && (isWordByte(query[j]) || query[j] == '.' ||
				((query[j] == '+' || query[j] == '-') && (query[j-1] == 'e' || query[j-1] == 'E'))) {
				j++
			}
			if inTail && depth == 0 && replaceable(last) {
				b.WriteString("\x00n")
				changed = true
			} else {
				b.WriteString(query[i:j])
			}
			i, last = j-1, "lit"

		case isWordByte(c):
			j := i
			for j < len(query) && isWordByte(query[j]) {
				j++
			}
			word := strings.ToUpper(query[i:j])
			if depth == 0 {
				switch word {
				case "FROM":
					inTail = true
				case "SELECT", "VALUES", "UNION", "INTERSECT", "EXCEPT":
					if inTail {
						return query
					}
				}
			}
			b.WriteString(query[i:j])
			i, last = j-1, word

		case c == '(':
			depth++
			b.WriteByte(c)
			last = "("

		case c == ')':
			depth--
			b.WriteByte(c)
			last = ")"

		case c == '-' && i+1 < len(query) && query[i+1] == '-', c == '/' && i+1 < len(query) && query[i+1] == '*':
			return query // comments: rare in generated point queries

		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			b.WriteByte(c)

		default:
			b.WriteByte(c)
			last = string(c)
		}
	}

	if !changed {
		return query
	}
	// The NUL prefix keeps templates apart from any real statement text.
	return "\x00" + b.String()
}

// replaceable reports whether a literal after token last is a compared
// value or a row count.
func replaceable(last string) bool {
	switch last {
	case "=", "<", ">", "LIMIT", "OFFSET":
		return true
	}
	return false
}

func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c >= 0x80 ||
		c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
