package flight_test

import (
	"reflect"
	"sort"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
)

func tableNames(res *result) []string {
	var names []string
	for _, b := range res.batches {
		col := b.Column(2).(*array.String)
		for i := 0; i < col.Len(); i++ {
			names = append(names, col.Value(i))
		}
	}
	return names
}

func TestGetTables(t *testing.T) {
	e := newEnv(t)
	createPosts(t, e.app)
	mustExec(t, e.app, "CREATE VIEW post_titles AS SELECT id, title FROM posts")

	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	ptr := func(s string) *string { return &s }
	cases := []struct {
		name string
		opts *flightsql.GetTablesOpts
		want []string
	}{
		{"all", &flightsql.GetTablesOpts{}, userTables(t, e, "post_titles", "posts")},
		{"pattern", &flightsql.GetTablesOpts{TableNameFilterPattern: ptr("po%")}, []string{"post_titles", "posts"}},
		{"underscore wildcard", &flightsql.GetTablesOpts{TableNameFilterPattern: ptr("post_")}, []string{"posts"}},
		{"views only", &flightsql.GetTablesOpts{TableTypes: []string{"VIEW"}}, []string{"post_titles"}},
		{"hostile pattern", &flightsql.GetTablesOpts{TableNameFilterPattern: ptr("zzz' OR '1'='1")}, nil},
		{"internal by name", &flightsql.GetTablesOpts{TableNameFilterPattern: ptr("\\_superusers")}, nil},
		{"unknown catalog", &flightsql.GetTablesOpts{Catalog: ptr("other")}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			info, err := cl.GetTables(ctx, c.opts)
			if err != nil {
				t.Fatalf("GetTables: %v", err)
			}
			if got := tableNames(fetch(t, ctx, cl, info)); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestGetTablesSchemaMatchesQuery(t *testing.T) {
	e := newEnv(t)
	createPosts(t, e.app)

	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	info, err := cl.GetTables(ctx, &flightsql.GetTablesOpts{IncludeSchema: true})
	if err != nil {
		t.Fatalf("GetTables: %v", err)
	}
	res := fetch(t, ctx, cl, info)

	seen := 0
	for _, b := range res.batches {
		names := b.Column(2).(*array.String)
		schemas := b.Column(4).(*array.Binary)
		for i := 0; i < names.Len(); i++ {
			listed, err := aflight.DeserializeSchema(schemas.Value(i), nil)
			if err != nil {
				t.Fatalf("decoding schema of %s: %v", names.Value(i), err)
			}
			streamed := query(t, ctx, cl, "SELECT * FROM "+names.Value(i)).schema
			if !listed.Equal(streamed) {
				t.Errorf("%s: GetTables schema %v, SELECT * schema %v", names.Value(i), listed, streamed)
			}
			seen++
		}
	}
	if want := len(userTables(t, e, "posts")); seen != want {
		t.Fatalf("checked %d tables, want %d", seen, want)
	}
}

func TestTableTypesCatalogsSchemas(t *testing.T) {
	e := newEnv(t)
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	info, err := cl.GetTableTypes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := fetch(t, ctx, cl, info).column(0); !reflect.DeepEqual(got, []any{"TABLE", "VIEW"}) {
		t.Fatalf("table types %v", got)
	}

	info, err = cl.GetCatalogs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := fetch(t, ctx, cl, info).rows(); n != 0 {
		t.Fatalf("catalogs: %d rows, want 0", n)
	}

	info, err = cl.GetDBSchemas(ctx, &flightsql.GetDBSchemasOpts{})
	if err != nil {
		t.Fatal(err)
	}
	if got := fetch(t, ctx, cl, info).column(1); !reflect.DeepEqual(got, []any{"main"}) {
		t.Fatalf("db schemas %v", got)
	}
}

// userTables is every non-system collection (migrations other packages
// add included) plus extra, sorted: what GetTables should list.
func userTables(t *testing.T, e *env, extra ...string) []string {
	t.Helper()

	collections, err := e.app.FindAllCollections()
	if err != nil {
		t.Fatal(err)
	}
	names := append([]string(nil), extra...)
	for _, c := range collections {
		if !c.System {
			names = append(names, c.Name)
		}
	}
	sort.Strings(names)
	return names
}
