package main

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/arrow-mino/arrow-mino/internal/teststack"
)

// corpusKinds maps the corpus's folders to the kind every file in them has.
var corpusKinds = map[string]string{
	"jpeg": "image", "png": "image", "gif": "image", "webp": "image",
	"tiff": "image", "heic": "image", "video": "video", "audio": "audio",
}

// TestIntegrationCorpus drops the whole shared media corpus into a bucket,
// as a new user would, and checks every file through Flight SQL: nothing
// lost, nothing invented, each typed by its bytes. It needs
// ARROW_MINO_CORPUS (set by `make corpus`).
func TestIntegrationCorpus(t *testing.T) {
	corpus := os.Getenv("ARROW_MINO_CORPUS")
	if corpus == "" {
		t.Skip("ARROW_MINO_CORPUS is not set; `make corpus` runs this test")
	}
	expected := readExpected(t, filepath.Join(corpus, "expected.json"))

	s := teststack.Start(t, "demo")
	uploaded := map[string]string{}
	err := filepath.WalkDir(corpus, func(path string, entry fs.DirEntry, err error) error {
		if err != nil || entry.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(corpus, path)
		if !strings.Contains(rel, "/") {
			return nil // SOURCES.md and expected.json describe the corpus
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		// No declared type: the index must find it in the bytes.
		s.Put("demo", "corpus/"+rel, data, minio.PutObjectOptions{})
		uploaded["corpus/"+rel] = rel
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(uploaded) < 40 {
		t.Fatalf("only %d corpus files found in %s", len(uploaded), corpus)
	}

	rows := s.WaitConverged("demo", convergeTimeout)
	if len(rows) != len(uploaded) {
		t.Fatalf("%d rows for %d uploads", len(rows), len(uploaded))
	}

	for key, rel := range uploaded {
		row := rows[key]
		folder := strings.SplitN(rel, "/", 2)[0]
		wantKind := corpusKinds[folder]
		wantType := ""
		if file, ok := expected[rel]; ok {
			wantKind, wantType = file.Kind, file.Mime
		}
		if wantKind != "" && row.Kind != wantKind {
			t.Errorf("%s: kind %q (sniffed %q), want %q", rel, row.Kind, row.Sniffed, wantKind)
		}
		if wantType != "" && row.Sniffed != wantType {
			t.Errorf("%s: sniffed %q, want %q", rel, row.Sniffed, wantType)
		}
	}
}

type expectedFile struct {
	Kind string `json:"kind"`
	Mime string `json:"mime"`
}

func readExpected(t *testing.T, path string) map[string]expectedFile {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var expected struct {
		Files map[string]expectedFile `json:"files"`
	}
	if err := json.Unmarshal(data, &expected); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return expected.Files
}
