package hooks

import (
	"slices"
	"testing"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"

	"github.com/arrow-mino/arrow-mino/migrations"
)

// TestRowCursorPagesInByteOrder walks a bucket's rows three at a time and
// must see each exactly once, in the byte order S3 lists keys in.
func TestRowCursorPagesInByteOrder(t *testing.T) {
	app, err := tests.NewTestApp(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer app.Cleanup()

	keys := []string{"b", "a", "a/b", "a b", "A", "é", "e\u0301", "z", "0", "~", "a+b", "a%20b", "日本"}
	collection, err := app.FindCollectionByNameOrId(migrations.ObjectsCollection)
	if err != nil {
		t.Fatal(err)
	}
	for _, bucket := range []string{"walked", "other"} {
		for _, key := range keys {
			record := core.NewRecord(collection)
			record.Id = RecordID(bucket, key)
			record.Set("bucket", bucket)
			record.Set("key", key)
			if err := app.Save(record); err != nil {
				t.Fatal(err)
			}
		}
	}

	cursor := &rowCursor{app: app, bucket: "walked", pageSize: 3}
	var walked []string
	for {
		row, ok, err := cursor.peek()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		walked = append(walked, row.Key)
		cursor.next()
	}

	want := slices.Clone(keys)
	slices.Sort(want) // Go compares strings byte by byte, as S3 orders keys
	if !slices.Equal(walked, want) {
		t.Fatalf("walked %q\nwant   %q", walked, want)
	}
}
