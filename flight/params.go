package flight

import (
	"context"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/pocketbase/dbx"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"modernc.org/sqlite"
)

// Parameter schemas. SQLite does not type its parameters, but JDBC and
// DB-API want one concrete, nullable field per '?'. The type comes from
// the column a parameter is compared with or assigned to (`col = ?`,
// `? < t.col`, `SET col = ?`, `INSERT INTO t(col, ...) VALUES (?, ...)`),
// resolved among the tables the statement names; LIMIT/OFFSET take int64;
// anything else is utf8, which SQLite's affinity rules convert where a
// number is needed. The rule only reads the SQL text and the schema, so
// it is stable for a statement.

// sqlToken is one lexical token of client SQL.
type sqlToken struct {
	text  string // identifiers unquoted; keywords and operators upper-cased
	ident bool
	param bool
}

// tokenize splits SQL into tokens, skipping comments and string literals
// (a literal becomes the token "'").
func tokenize(q string) []sqlToken {
	var out []sqlToken
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			end := strings.IndexByte(q[i:], '\n')
			if end < 0 {
				return out
			}
			i += end + 1
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			end := strings.Index(q[i+2:], "*/")
			if end < 0 {
				return out
			}
			i += end + 4
		case c == '\'':
			i = skipQuoted(q, i, c) + 1
			out = append(out, sqlToken{text: "'"})
		case c == '"' || c == '`':
			j := skipQuoted(q, i, c)
			name := q[i+1 : min(j, len(q))]
			out = append(out, sqlToken{text: strings.ReplaceAll(name, string([]byte{c, c}), string(c)), ident: true})
			i = j + 1
		case c == '[':
			j := strings.IndexByte(q[i:], ']')
			if j < 0 {
				return out
			}
			out = append(out, sqlToken{text: q[i+1 : i+j], ident: true})
			i += j + 1
		case c == '?':
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			out = append(out, sqlToken{text: q[i:j], param: true})
			i = j
		case isIdentByte(c):
			j := i
			for j < len(q) && (isIdentByte(q[j]) || q[j] >= '0' && q[j] <= '9' || q[j] == '$') {
				j++
			}
			out = append(out, sqlToken{text: q[i:j], ident: true})
			i = j
		case c >= '0' && c <= '9':
			j := i
			for j < len(q) && (q[j] >= '0' && q[j] <= '9' || q[j] == '.' || q[j] == 'e' || q[j] == 'E') {
				j++
			}
			out = append(out, sqlToken{text: q[i:j]})
			i = j
		default:
			// Two-character operators first.
			if i+1 < len(q) {
				if two := q[i : i+2]; two == "<=" || two == ">=" || two == "<>" || two == "!=" || two == "==" || two == "||" {
					out = append(out, sqlToken{text: two})
					i += 2
					continue
				}
			}
			out = append(out, sqlToken{text: string(c)})
			i++
		}
	}
	return out
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// isKeyword compares an unquoted token with an upper-case keyword.
func (t sqlToken) is(kw string) bool { return strings.EqualFold(t.text, kw) }

func (t sqlToken) isComparison() bool {
	switch strings.ToUpper(t.text) {
	case "=", "==", "<>", "!=", "<", ">", "<=", ">=", "LIKE", "GLOB", "IS":
		return true
	}
	return false
}

// paramSlot is what is known about one '?'.
type paramSlot struct {
	column string // compared or assigned column, "" if unknown
	limit  bool   // LIMIT or OFFSET operand
}

// paramSlots finds every placeholder of a statement in order. Named and
// numbered placeholders are refused: their positions are ambiguous for
// clients that bind by position.
func paramSlots(toks []sqlToken) ([]paramSlot, error) {
	var slots []paramSlot
	insertCols := insertColumns(toks)
	valuesIdx := 0
	inValues := false
	depth := 0

	for i, t := range toks {
		switch {
		case t.is("VALUES"):
			inValues = true
		case t.text == "(":
			depth++
		case t.text == ")":
			depth--
			if inValues && depth == 0 {
				valuesIdx = 0 // next row of a multi-row VALUES
			}
		case t.text == "," && inValues && depth == 1:
			valuesIdx++
		}

		if !t.param {
			continue
		}
		if t.text != "?" {
			return nil, status.Error(codes.InvalidArgument, "only positional ? parameters are supported")
		}

		var slot paramSlot
		switch {
		case i > 0 && (toks[i-1].is("LIMIT") || toks[i-1].is("OFFSET")):
			slot.limit = true
		case i >= 2 && toks[i-1].isComparison() && toks[i-2].ident:
			slot.column = toks[i-2].text
		case i >= 3 && toks[i-1].is("NOT") && toks[i-2].is("IS") && toks[i-3].ident:
			slot.column = toks[i-3].text
		case i+2 < len(toks) && toks[i+1].isComparison() && toks[i+2].ident:
			slot.column = toks[i+2].text
			if i+4 < len(toks) && toks[i+3].text == "." && toks[i+4].ident {
				slot.column = toks[i+4].text
			}
		case inValues && depth == 1 && valuesIdx < len(insertCols):
			slot.column = insertCols[valuesIdx]
		}
		slots = append(slots, slot)
	}
	return slots, nil
}

// insertColumns returns the column list of INSERT INTO t(a, b, ...).
func insertColumns(toks []sqlToken) []string {
	for i := 0; i+2 < len(toks); i++ {
		if !toks[i].is("INTO") {
			continue
		}
		j := i + 2
		if j+1 < len(toks) && toks[j].text == "." {
			j += 2 // schema.table
		}
		if j >= len(toks) || toks[j].text != "(" {
			return nil
		}
		var cols []string
		for j++; j < len(toks) && toks[j].text != ")"; j++ {
			if toks[j].ident {
				cols = append(cols, toks[j].text)
			}
		}
		return cols
	}
	return nil
}

// statementTables lists the table names a statement names after FROM,
// JOIN, UPDATE and INTO.
func statementTables(toks []sqlToken) []string {
	var tables []string
	for i := 0; i+1 < len(toks); i++ {
		if toks[i].is("FROM") || toks[i].is("JOIN") || toks[i].is("UPDATE") || toks[i].is("INTO") {
			name := toks[i+1]
			if i+3 < len(toks) && toks[i+2].text == "." && toks[i+3].ident {
				name = toks[i+3]
			}
			if name.ident && !isInternalTable(name.text) {
				tables = append(tables, name.text)
			}
		}
	}
	return tables
}

// parameterSchema derives the parameter schema of query.
func (s *Server) parameterSchema(ctx context.Context, query string) (*arrow.Schema, error) {
	toks := tokenize(query)
	slots, err := paramSlots(toks)
	if err != nil {
		return nil, err
	}

	// column (lower-cased) -> kind, from the tables the statement names;
	// a name two tables type differently stays unknown.
	kinds := map[string]colKind{}
	conflict := map[string]bool{}
	for _, table := range statementTables(toks) {
		var cols []struct {
			Name string `db:"name"`
			Type string `db:"type"`
		}
		err := s.app.ConcurrentDB().NewQuery("SELECT name, type FROM pragma_table_info({:t})").
			WithContext(ctx).Bind(dbx.Params{"t": table}).All(&cols)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "reading columns of %q: %v", table, err)
		}
		for _, c := range cols {
			k := kindOf(s.app, sqlite.ColumnInfo{TableName: table, OriginName: c.Name, DeclType: c.Type})
			key := strings.ToLower(c.Name)
			if prev, ok := kinds[key]; ok && prev != k {
				conflict[key] = true
			}
			kinds[key] = k
		}
	}

	fields := make([]arrow.Field, len(slots))
	for i, slot := range slots {
		kind := kindUTF8
		name := fmt.Sprintf("param_%d", i+1)
		switch {
		case slot.limit:
			kind = kindInt64
		case slot.column != "":
			key := strings.ToLower(slot.column)
			if k, ok := kinds[key]; ok && !conflict[key] && k != kindUntyped {
				kind = k
				name = slot.column
			}
		}
		fields[i] = arrow.Field{Name: name, Type: kind.arrowType(), Nullable: true}
	}
	return arrow.NewSchema(fields, nil), nil
}

// argRows converts a bound parameter batch into one argument list per row.
func argRows(rec arrow.RecordBatch) ([][]any, error) {
	rows := make([][]any, rec.NumRows())
	for r := range rows {
		rows[r] = make([]any, rec.NumCols())
		for c := range rows[r] {
			v, err := paramValue(rec.Column(c), r)
			if err != nil {
				return nil, fmt.Errorf("parameter %d of row %d: %w", c+1, r+1, err)
			}
			rows[r][c] = v
		}
	}
	return rows, nil
}

// paramValue converts one Arrow value into what the SQLite driver binds.
// Timestamps become PocketBase's date text, so they compare equal to the
// stored dates.
func paramValue(arr arrow.Array, i int) (any, error) {
	if arr.IsNull(i) {
		return nil, nil
	}

	switch a := arr.(type) {
	case *array.Int8:
		return int64(a.Value(i)), nil
	case *array.Int16:
		return int64(a.Value(i)), nil
	case *array.Int32:
		return int64(a.Value(i)), nil
	case *array.Int64:
		return a.Value(i), nil
	case *array.Uint8:
		return int64(a.Value(i)), nil
	case *array.Uint16:
		return int64(a.Value(i)), nil
	case *array.Uint32:
		return int64(a.Value(i)), nil
	case *array.Uint64:
		return int64(a.Value(i)), nil
	case *array.Float32:
		return float64(a.Value(i)), nil
	case *array.Float64:
		return a.Value(i), nil
	case *array.Boolean:
		return a.Value(i), nil
	case *array.String:
		return a.Value(i), nil
	case *array.LargeString:
		return a.Value(i), nil
	case *array.Binary:
		return a.Value(i), nil
	case *array.LargeBinary:
		return a.Value(i), nil
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return a.Value(i).ToTime(unit).UTC().Format(pbDateLayout), nil
	case *array.Date32:
		return a.Value(i).ToTime().Format("2006-01-02"), nil
	case *array.Date64:
		return a.Value(i).ToTime().Format("2006-01-02"), nil
	case *array.DenseUnion:
		return paramValue(a.Field(a.ChildID(i)), int(a.ValueOffset(i)))
	case *array.SparseUnion:
		return paramValue(a.Field(a.ChildID(i)), i)
	case *array.Null:
		return nil, nil
	default:
		return arr.ValueStr(i), nil
	}
}

// pbDateLayout is how PocketBase stores dates.
const pbDateLayout = "2006-01-02 15:04:05.000Z"
