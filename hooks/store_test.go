package hooks

import "testing"

func TestTotalSize(t *testing.T) {
	scenarios := []struct {
		name         string
		length       int64
		contentRange string
		want         int64
	}{
		{"ranged reply of a large object", 3072, "bytes 0-3071/11534336", 11534336},
		{"whole small object", 11, "bytes 0-10/11", 11},
		{"no range header", 42, "", 42},
		{"unknown total", 3072, "bytes 0-3071/*", 3072},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			if got := totalSize(s.length, s.contentRange); got != s.want {
				t.Fatalf("got %d, want %d", got, s.want)
			}
		})
	}
}
