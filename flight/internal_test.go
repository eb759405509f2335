package flight

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestLikeMatch(t *testing.T) {
	cases := []struct {
		pattern, name string
		want          bool
	}{
		{"%", "objects", true},
		{"obj%", "objects", true},
		{"%ects", "objects", true},
		{"o_jects", "objects", true},
		{"o_jects", "oobjects", false},
		{"%b%c%", "objects", true},
		{"post_", "posts", true},
		{"post\\_", "posts", false},
		{"post\\_", "post_", true},
		{"zzz' OR '1'='1", "objects", false},
		{"", "objects", false},
		{"", "", true},
		{"Objects", "objects", false},
		{strings.Repeat("%a", 200) + "b", strings.Repeat("a", 300), false},
	}
	for _, c := range cases {
		if got := likeMatch([]rune(c.pattern), []rune(c.name)); got != c.want {
			t.Errorf("likeMatch(%q, %q) = %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
}

func TestCheckSingleStatement(t *testing.T) {
	cases := []struct {
		sql string
		ok  bool
	}{
		{"SELECT 1", true},
		{"SELECT 1;", true},
		{"SELECT 1; ; -- c\n /* x */", true},
		{"SELECT ';DROP' AS [a;b], \"c;d\", `e;f`", true},
		{"SELECT 'it''s;' ", true},
		{"SELECT 1; SELECT 2", false},
		{"SELECT 1;DELETE FROM t", false},
		{"SELECT 1; 'x'", false},
		{"SELECT 1 /* ; */; -- ;\nSELECT 2", false},
		{"   ", false},
	}
	for _, c := range cases {
		err := checkSingleStatement(c.sql)
		if (err == nil) != c.ok {
			t.Errorf("checkSingleStatement(%q) = %v, want ok=%v", c.sql, err, c.ok)
		}
		if err != nil && status.Code(err) != codes.InvalidArgument {
			t.Errorf("checkSingleStatement(%q) code %v", c.sql, status.Code(err))
		}
	}
}

func TestKindOfDecl(t *testing.T) {
	cases := map[string]colKind{
		"":              kindUntyped,
		"INTEGER":       kindInt64,
		"BIGINT":        kindInt64,
		"TEXT":          kindUTF8,
		"VARCHAR(10)":   kindUTF8,
		"JSON":          kindUTF8,
		"BLOB":          kindBinary,
		"REAL":          kindFloat64,
		"DOUBLE":        kindFloat64,
		"BOOLEAN":       kindBool,
		"NUMERIC":       kindFloat64,
		"DECIMAL(10,2)": kindFloat64,
		"DATETIME":      kindTimestamp,
		"timestamp":     kindTimestamp,
	}
	for decl, want := range cases {
		if got := kindOfDecl(decl); got != want {
			t.Errorf("kindOfDecl(%q) = %v, want %v", decl, got, want)
		}
	}
}

func TestConversions(t *testing.T) {
	if n, ok := toInt64(" 42 "); !ok || n != 42 {
		t.Errorf("toInt64 text: %v %v", n, ok)
	}
	if _, ok := toInt64(1.5); ok {
		t.Error("toInt64(1.5) should refuse a fraction")
	}
	if n, ok := toInt64(3.0); !ok || n != 3 {
		t.Errorf("toInt64(3.0): %v %v", n, ok)
	}
	if _, ok := toFloat64("abc"); ok {
		t.Error("toFloat64(abc) should fail")
	}
	if b, ok := toBool("TRUE"); !ok || !b {
		t.Errorf("toBool(TRUE): %v %v", b, ok)
	}
	if _, ok, empty := toTime(""); ok || !empty {
		t.Error("toTime('') should be empty")
	}
	if ts, ok, _ := toTime("2024-03-31 01:30:00.123Z"); !ok || ts.UnixMilli() != 1711848600123 {
		t.Errorf("toTime: %v %v", ts, ok)
	}
	if got := renderLossless(0.1); got != "0.1" {
		t.Errorf("renderLossless(0.1) = %q", got)
	}
	if got := renderLossless([]byte{0xff, 0x01}); got != "X'FF01'" {
		t.Errorf("renderLossless(blob) = %q", got)
	}
	if got := toText("a\xffb"); got != "a\uFFFDb" {
		t.Errorf("toText(invalid utf8) = %q", got)
	}
}

func TestParsePBDate(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"2024-03-31 01:30:00.123Z", "2024-03-31T01:30:00.123Z", true},
		{"2024-02-31 01:30:00.000Z", "", false},
		{"2024-03-31T01:30:00.000Z", "", false},
		{"2024-03-31 1:30:00.000Z", "", false},
	} {
		got, ok := parsePBDate(c.in)
		if ok != c.ok || (ok && got.Format("2006-01-02T15:04:05.000Z07:00") != c.want) {
			t.Errorf("parsePBDate(%q) = %v, %v", c.in, got, ok)
		}
	}
}
