package flight

import "testing"

func TestShapeText(t *testing.T) {
	template := func(q string) bool { return shapeText(q) != q }
	same := [][2]string{
		{"SELECT * FROM bench WHERE id = '000000000000001'", "SELECT * FROM bench WHERE id = '000000000000002'"},
		{"SELECT a FROM t WHERE n >= 10 LIMIT 5", "SELECT a FROM t WHERE n >= 2.5e-3 LIMIT 50"},
		{"SELECT a FROM t WHERE s = 'it''s'", "SELECT a FROM t WHERE s = 'x'"},
	}
	for _, c := range same {
		if shapeText(c[0]) != shapeText(c[1]) {
			t.Errorf("%q and %q should share a shape key", c[0], c[1])
		}
	}

	// Literals that can name or type a result column keep their text.
	exact := []string{
		"SELECT 'a' FROM t WHERE id = 'x'",
		"SELECT * FROM (SELECT 'a') WHERE 1 = 1",
		"SELECT * FROM t WHERE id = 'a' UNION SELECT * FROM u WHERE id = 'b'",
		"SELECT * FROM t 'alias'",
		"SELECT * FROM t WHERE id IN ('a', 'b')",
		"SELECT * FROM t WHERE id = 'unterminated",
		"SELECT * FROM t WHERE id = 'a' -- comment",
		`SELECT * FROM t WHERE "id" = "a"`,
	}
	for _, q := range exact {
		if q == exact[0] {
			// Only the tail literal may change: the select list stays.
			if shapeText(q) == shapeText("SELECT 'b' FROM t WHERE id = 'x'") {
				t.Errorf("select-list literal was templated in %q", q)
			}
			continue
		}
		if q == exact[1] {
			if shapeText(q) == shapeText("SELECT * FROM (SELECT 'b') WHERE 1 = 1") {
				t.Errorf("subquery literal was templated in %q", q)
			}
			continue
		}
		if template(q) {
			t.Errorf("%q was templated as %q", q, shapeText(q))
		}
	}
}
