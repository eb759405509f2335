package hooks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseEventOnCapturedPayloads(t *testing.T) {
	scenarios := []struct {
		file   string
		name   string
		bucket string
		key    string
	}{
		{"01-put-user-metadata-space-in-key.json", "s3:ObjectCreated:Put", "lab", "docs/hello world.txt"},
		{"02-complete-multipart-upload.json", "s3:ObjectCreated:CompleteMultipartUpload", "lab", "big/multi part.bin"},
		{"03-copy-metadata-copied.json", "s3:ObjectCreated:Copy", "lab", "copies/hello copy.txt"},
		{"04-delete-unversioned-special-chars.json", "s3:ObjectRemoved:Delete", "lab", "tilde~star*paren(1).txt"},
		{"05-delete-marker-created.json", "s3:ObjectRemoved:DeleteMarkerCreated", "vers", "report.pdf"},
		{"06-put-unicode-key.json", "s3:ObjectCreated:Put", "lab", "unicode/ünïcødé 日本語 😀.jpg"},
		{"07-put-plus-percent-ampersand-key.json", "s3:ObjectCreated:Put", "lab", "weird/a+b c%20d&e=f?g#h.txt"},
		{"08-SURPRISE-remove-delete-marker-reported-as-DeleteMarkerCreated.json", "s3:ObjectRemoved:DeleteMarkerCreated", "vers", "report.pdf"},
		{"copy-replace-metadata.json", "s3:ObjectCreated:Copy", "lab", "copies/hello replaced.txt"},
		{"lifecycle-expiry-delete.json", "s3:ObjectRemoved:Delete", "ilmtest", "exp/o2.txt"},
		{"mc-pipe-is-multipart.json", "s3:ObjectCreated:CompleteMultipartUpload", "repsrc", "docs/rep1.txt"},
		{"noop-delete-nonexistent.json", "s3:ObjectRemoved:NoOP", "lab", "does/not exist.txt"},
		{"put-folder-slash-key-versionId-null.json", "s3:ObjectCreated:Put", "lab", "folder/"},
		// NFD stays NFD: "e" followed by a combining acute accent.
		{"put-nfd-unicode-key.json", "s3:ObjectCreated:Put", "lab", "unicode/NFD-cafe\u0301.txt"},
		{"put-tagging.json", "s3:ObjectCreated:PutTagging", "lab", "docs/hello world.txt"},
		{"replication-completed.json", "s3:Replication:OperationCompletedReplication", "repsrc", "docs/rep1.txt"},
		{"versioned-delete-specific-version.json", "s3:ObjectRemoved:Delete", "vers", "report.pdf"},
		{"versioned-put-v1.json", "s3:ObjectCreated:Put", "vers", "report.pdf"},
	}

	for _, s := range scenarios {
		t.Run(s.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "events", s.file))
			if err != nil {
				t.Fatal(err)
			}

			event, err := ParseEvent(data)
			if err != nil {
				t.Fatalf("ParseEvent: %v", err)
			}
			if event.Name != s.name || event.Bucket != s.bucket || event.Key != s.key {
				t.Fatalf("got %q %q %q, want %q %q %q",
					event.Name, event.Bucket, event.Key, s.name, s.bucket, s.key)
			}
		})
	}
}

func TestParseEventRejectsMalformedInput(t *testing.T) {
	valid, err := os.ReadFile(filepath.Join("testdata", "events", "01-put-user-metadata-space-in-key.json"))
	if err != nil {
		t.Fatal(err)
	}

	scenarios := []struct {
		name    string
		payload string
		wantErr string
	}{
		{"not JSON", "hello", "decode event JSON"},
		{"empty", "", "decode event JSON"},
		{"no records", `{"EventName":"s3:ObjectCreated:Put","Records":[]}`, "0 records"},
		{"two records", `{"Records":[{},{}]}`, "2 records"},
		{"no bucket", `{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"object":{"key":"a"}}}]}`, "no bucket"},
		{"no key", `{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"b"}}}]}`, "no object key"},
		{"bad escape", `{"Records":[{"eventName":"x","s3":{"bucket":{"name":"b"},"object":{"key":"%zz"}}}]}`, "decode object key"},
		{"no event name", `{"Records":[{"s3":{"bucket":{"name":"b"},"object":{"key":"a"}}}]}`, "no event name"},
		{"keys disagree", strings.Replace(string(valid), `"lab/docs/hello world.txt"`, `"lab/docs/other.txt"`, 1), "disagree"},
	}

	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			_, err := ParseEvent([]byte(s.payload))
			if err == nil || !strings.Contains(err.Error(), s.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, s.wantErr)
			}
		})
	}
}

func FuzzParseEvent(f *testing.F) {
	entries, _ := os.ReadDir(filepath.Join("testdata", "events"))
	for _, entry := range entries {
		if data, err := os.ReadFile(filepath.Join("testdata", "events", entry.Name())); err == nil {
			f.Add(data)
		}
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		event, err := ParseEvent(data)
		if err == nil && (event.Bucket == "" || event.Key == "") {
			t.Fatalf("accepted an event without bucket or key: %+v", event)
		}
	})
}
