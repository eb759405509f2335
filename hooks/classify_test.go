package hooks

import "testing"

func TestClassify(t *testing.T) {
	jpegHead := []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J', 'F', 'I', 'F', 0}
	pdfHead := []byte("%PDF-1.7\n")
	pngHead := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR")

	scenarios := []struct {
		name     string
		head     []byte
		size     int64
		declared string
		sniffed  string
		kind     string
	}{
		{"jpeg declared as text", jpegHead, 100, "text/plain", "image/jpeg", "image"},
		{"png without declared type", pngHead, 100, "", "image/png", "image"},
		{"pdf", pdfHead, 100, "application/pdf", "application/pdf", "document"},
		{"plain text", []byte("hello world"), 11, "text/plain", "text/plain", "document"},
		{"empty object is not text", nil, 0, "text/plain", emptyType, "other"},
		{"unknown bytes trust declared video", []byte{1, 2, 3, 4, 5}, 5, "video/mp4", "application/octet-stream", "video"},
		{"unknown bytes and type", []byte{1, 2, 3, 4, 5}, 5, "binary/octet-stream", "application/octet-stream", "other"},
	}

	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			sniffed := sniffType(s.head, s.size)
			if sniffed != s.sniffed {
				t.Fatalf("sniffed %q, want %q", sniffed, s.sniffed)
			}
			if kind := classify(sniffed, s.declared); kind != s.kind {
				t.Fatalf("kind %q, want %q", kind, s.kind)
			}
		})
	}
}
