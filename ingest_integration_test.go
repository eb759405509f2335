package main

import (
	"bytes"
	"context"
	"image/jpeg"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/nats-io/nats.go"

	"github.com/arrow-mino/arrow-mino/broker"
	"github.com/arrow-mino/arrow-mino/internal/teststack"
)

const convergeTimeout = 30 * time.Second

// awkwardKeys are keys that break naive event decoding: MinIO query-escapes
// keys in events, so '+', '%', spaces and unicode must all round-trip.
var awkwardKeys = []string{
	"docs/hello world.txt",
	"docs/hello+world.txt",
	"weird/a+b c%20d&e=f?g#h.txt",
	"percent/100%.txt",
	"percent/%2F.txt",
	"unicode/ünïcødé 日本語 😀.txt",
	"unicode/NFC-caf\u00e9.txt",
	"unicode/NFD-cafe\u0301.txt",
	"folder/",
	"deep/a/b/c/d/e/f/g/h.txt",
	"quote's \"double\".txt",
	"tilde~star*paren(1).txt",
	" leading and trailing space ",
	strings.Repeat("long/", 150) + "end.txt",
}

func TestIntegrationIngestMinIONATS(t *testing.T) {
	s := teststack.Start(t, "demo")

	// Real media under honest and dishonest names and declared types.
	media, err := os.ReadDir(filepath.Join("testdata", "media"))
	if err != nil {
		t.Fatal(err)
	}
	for _, entry := range media {
		if entry.Name() == "SOURCES.md" {
			continue
		}
		data, err := os.ReadFile(filepath.Join("testdata", "media", entry.Name()))
		if err != nil {
			t.Fatal(err)
		}
		s.Put("demo", "media/"+entry.Name(), data, minio.PutObjectOptions{ContentType: "application/octet-stream"})
	}
	for i, key := range awkwardKeys {
		s.Put("demo", key, []byte(strings.Repeat("x", i)), minio.PutObjectOptions{
			ContentType:  "text/plain",
			UserMetadata: map[string]string{"Author": "Zoë Example", "Index": string(rune('a' + i))},
		})
	}

	rows := s.WaitConverged("demo", convergeTimeout)

	t.Run("content types are sniffed from the bytes", func(t *testing.T) {
		want := map[string][2]string{
			"media/canon_eos40d.jpg":  {"image/jpeg", "image"},
			"media/png_named_as.jpg":  {"image/png", "image"},
			"media/one_pixel.gif":     {"image/gif", "image"},
			"media/lossy_simple.webp": {"image/webp", "image"},
			"media/hevc.mp4":          {"video/mp4", "video"},
			"media/h264_vorbis.mkv":   {"video/matroska", "video"},
			"media/id3v24.mp3":        {"audio/mpeg", "audio"},
			"media/zero_bytes.jpg":    {"application/x-empty", "other"},
		}
		for key, expected := range want {
			row := rows[key]
			if row.Sniffed != expected[0] || row.Kind != expected[1] {
				t.Errorf("%s: sniffed %q kind %q, want %q %q", key, row.Sniffed, row.Kind, expected[0], expected[1])
			}
			if row.ContentType != "application/octet-stream" {
				t.Errorf("%s: declared type %q, want application/octet-stream", key, row.ContentType)
			}
		}
	})

	t.Run("media metadata and thumbnails are extracted", func(t *testing.T) {
		s.Eventually(convergeTimeout, "photo metadata", func() error {
			values, err := s.Query("SELECT width, height, make, model, extracted_etag = etag, thumb_small, thumb_medium, has_gps FROM objects WHERE key = 'media/canon_eos40d.jpg'")
			if err != nil {
				return err
			}
			if len(values) != 1 {
				return errorf("%d rows", len(values))
			}
			row := values[0]
			if row[0] != int64(100) || row[1] != int64(68) || row[2] != "Canon" || row[3] != "Canon EOS 40D" || row[7] != false {
				return errorf("photo row %v, want 100x68 Canon EOS 40D without GPS", row)
			}
			if teststack.AsString(row[4]) != "1" || teststack.AsString(row[5]) == "" || teststack.AsString(row[6]) == "" {
				return errorf("photo not fully extracted: %v", row)
			}
			return nil
		})

		s.Eventually(convergeTimeout, "GPS position", func() error {
			values, err := s.Query("SELECT has_gps, gps_lat, gps_lon FROM objects WHERE key = 'media/kodak_cx7530_gps_south.jpg'")
			if err != nil {
				return err
			}
			if len(values) != 1 || values[0][0] != true {
				return errorf("GPS row %v", values)
			}
			lat, lon := values[0][1].(float64), values[0][2].(float64)
			if math.Abs(lat-(-0.3713)) > 1e-5 || math.Abs(lon-36.0564166666667) > 1e-5 {
				return errorf("position %v, %v", lat, lon)
			}
			return nil
		})

		// The thumbnail is served by PocketBase's file API.
		values, err := s.Query("SELECT id, thumb_small FROM objects WHERE key = 'media/canon_eos40d.jpg'")
		if err != nil {
			t.Fatal(err)
		}
		url := "http://" + s.HTTPAddr + "/api/files/objects/" + teststack.AsString(values[0][0]) + "/" + teststack.AsString(values[0][1])
		response, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer response.Body.Close()
		thumb, err := jpeg.DecodeConfig(response.Body)
		if err != nil || thumb.Width != 100 || thumb.Height != 68 {
			t.Fatalf("thumbnail at %s: %+v, %v; want a 100x68 JPEG", url, thumb, err)
		}
	})

	t.Run("awkward keys keep their exact bytes and metadata", func(t *testing.T) {
		for i, key := range awkwardKeys {
			row, ok := rows[key]
			if !ok {
				t.Errorf("no row for %q", key)
				continue
			}
			if row.Size != int64(i) {
				t.Errorf("%q: size %d, want %d", key, row.Size, i)
			}
			if !strings.Contains(row.Metadata, `"Author":"Zoë Example"`) {
				t.Errorf("%q: user metadata %s lacks the author", key, row.Metadata)
			}
		}
	})

	t.Run("bucket row counts objects and bytes", func(t *testing.T) {
		objects, err := s.Truth("demo")
		if err != nil {
			t.Fatal(err)
		}
		var total int64
		for _, object := range objects {
			total += object.Size
		}
		s.Eventually(10*time.Second, "bucket stats", func() error {
			values, err := s.Query("SELECT object_count, bytes, watched FROM buckets WHERE name = 'demo'")
			if err != nil {
				return err
			}
			if len(values) != 1 || values[0][0] != int64(len(objects)) || values[0][1] != total || values[0][2] != true {
				return errorf("bucket row %v, want [%d %d true]", values, len(objects), total)
			}
			return nil
		})
	})
}

func TestIntegrationOverwriteDeleteCopyMultipart(t *testing.T) {
	s := teststack.Start(t, "demo")
	ctx := context.Background()

	s.Put("demo", "a.txt", []byte("first"), minio.PutObjectOptions{})
	s.Put("demo", "b.txt", []byte("bee"), minio.PutObjectOptions{})
	s.Put("demo", "gone.txt", []byte("soon gone"), minio.PutObjectOptions{})
	s.WaitConverged("demo", convergeTimeout)

	// Overwrite, delete, server-side copy, and a multipart upload of three
	// parts.
	second := s.Put("demo", "a.txt", []byte("second, longer"), minio.PutObjectOptions{})
	s.Remove("demo", "gone.txt", minio.RemoveObjectOptions{})
	_, err := s.S3.CopyObject(ctx,
		minio.CopyDestOptions{Bucket: "demo", Object: "copies/b copy.txt"},
		minio.CopySrcOptions{Bucket: "demo", Object: "b.txt"})
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), (11<<20)/16)
	_, err = s.S3.PutObject(ctx, "demo", "big/multi part.bin", bytes.NewReader(big), -1,
		minio.PutObjectOptions{PartSize: 5 << 20})
	if err != nil {
		t.Fatal(err)
	}

	rows := s.WaitConverged("demo", convergeTimeout)
	if rows["a.txt"].ETag != second.ETag || rows["a.txt"].Size != int64(len("second, longer")) {
		t.Errorf("a.txt row %+v, want the second upload %s", rows["a.txt"], second.ETag)
	}
	if _, ok := rows["gone.txt"]; ok {
		t.Error("gone.txt still indexed")
	}
	if !strings.HasSuffix(rows["big/multi part.bin"].ETag, "-3") {
		t.Errorf("multipart etag %q, want three parts", rows["big/multi part.bin"].ETag)
	}
	if rows["copies/b copy.txt"].Size != 3 {
		t.Errorf("copy row %+v", rows["copies/b copy.txt"])
	}
}

func TestIntegrationVersionedDeleteMarkers(t *testing.T) {
	s := teststack.Start(t, "vers")
	ctx := context.Background()
	if err := s.S3.EnableVersioning(ctx, "vers"); err != nil {
		t.Fatal(err)
	}

	v1 := s.Put("vers", "report.pdf", []byte("%PDF-1.4 version one"), minio.PutObjectOptions{})
	v2 := s.Put("vers", "report.pdf", []byte("%PDF-1.4 version two!"), minio.PutObjectOptions{})
	rows := s.WaitConverged("vers", convergeTimeout)
	if rows["report.pdf"].VersionID != v2.VersionID || rows["report.pdf"].Kind != "document" {
		t.Fatalf("row %+v, want version %s as a document", rows["report.pdf"], v2.VersionID)
	}

	// A delete without a version id adds a delete marker: the key is gone.
	s.Remove("vers", "report.pdf", minio.RemoveObjectOptions{})
	rows = s.WaitConverged("vers", convergeTimeout)
	if _, ok := rows["report.pdf"]; ok {
		t.Fatal("report.pdf still indexed behind a delete marker")
	}

	// Removing the marker brings v2 back, though MinIO reports it as
	// DeleteMarkerCreated.
	marker := latestVersion(t, s, "vers", "report.pdf")
	if !marker.IsDeleteMarker {
		t.Fatalf("latest version %+v is not a delete marker", marker)
	}
	s.Remove("vers", "report.pdf", minio.RemoveObjectOptions{VersionID: marker.VersionID})
	rows = s.WaitConverged("vers", convergeTimeout)
	if rows["report.pdf"].VersionID != v2.VersionID {
		t.Fatalf("after removing the marker: row %+v, want version %s", rows["report.pdf"], v2.VersionID)
	}

	// Deleting the current version makes the older one current.
	s.Remove("vers", "report.pdf", minio.RemoveObjectOptions{VersionID: v2.VersionID})
	s.Eventually(convergeTimeout, "v1 is current", func() error {
		rows, err := s.Rows("vers")
		if err != nil {
			return err
		}
		if rows["report.pdf"].VersionID != v1.VersionID || rows["report.pdf"].ETag != v1.ETag {
			return errorf("row %+v, want version %s", rows["report.pdf"], v1.VersionID)
		}
		return nil
	})
}

func latestVersion(t *testing.T, s *teststack.Stack, bucket, key string) minio.ObjectInfo {
	t.Helper()
	for version := range s.S3.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{
		WithVersions: true, Prefix: key,
	}) {
		if version.Err != nil {
			t.Fatal(version.Err)
		}
		if version.Key == key && version.IsLatest {
			return version
		}
	}
	t.Fatalf("no latest version of %s", key)
	return minio.ObjectInfo{}
}

func TestIntegrationRestartAndPurgeConverge(t *testing.T) {
	s := teststack.Start(t, "demo")
	ctx := context.Background()

	for i := range 20 {
		s.Put("demo", keyf("keep/%02d.txt", i), []byte("keep"), minio.PutObjectOptions{})
		s.Put("demo", keyf("purge/%02d.txt", i), []byte("purge"), minio.PutObjectOptions{})
	}
	s.WaitConverged("demo", convergeTimeout)

	// With arrow-mino (and so NATS) down, MinIO's events are lost; the
	// reconcile at start-up must find every change.
	s.RestartApp(func() {
		for i := range 10 {
			s.Put("demo", keyf("while-down/%02d.txt", i), []byte("new"), minio.PutObjectOptions{})
			s.Remove("demo", keyf("keep/%02d.txt", i), minio.RemoveObjectOptions{})
		}
		s.Put("demo", "keep/15.txt", []byte("changed while down"), minio.PutObjectOptions{})
	})
	rows := s.WaitConverged("demo", convergeTimeout)
	if rows["keep/15.txt"].Size != int64(len("changed while down")) {
		t.Errorf("keep/15.txt row %+v not updated", rows["keep/15.txt"])
	}
	// Only the keys that changed were synced again, not the unchanged 29.
	if !strings.Contains(s.Log("app"), "created=10 updated=1 deleted=10 failed=0") {
		t.Errorf("start-up reconcile did other work than the 21 changes:\n%s", s.Log("app"))
	}

	// A forced prefix delete sends no events at all; the reconcile command
	// catches it.
	if err := s.S3.RemoveObject(ctx, "demo", "purge/", minio.RemoveObjectOptions{ForceDelete: true}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	rows, err := s.Rows("demo")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rows["purge/00.txt"]; !ok {
		t.Fatal("purge/00.txt vanished without a reconcile: did MinIO send an event after all?")
	}

	out, err := execOutput(s.Bin, append([]string{"reconcile", "demo"}, s.Flags()...)...)
	if err != nil {
		t.Fatalf("reconcile command: %v\n%s", err, out)
	}
	if !strings.Contains(out, "deleted 20") {
		t.Errorf("reconcile output %q, want 20 deletions", out)
	}
	s.WaitConverged("demo", convergeTimeout)
}

func TestIntegrationMalformedEventIsKept(t *testing.T) {
	s := teststack.Start(t, "demo")

	conn, err := nats.Connect("nats://"+s.NATSAddr, nats.UserInfo(s.Secrets.NATSUser, s.Secrets.NATSPassword))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, payload := range []string{"not json at all", `{"Records":[]}`, `{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"demo"},"object":{"key":"%zz"}}}]}`} {
		if err := conn.Publish(broker.Subject, []byte(payload)); err != nil {
			t.Fatal(err)
		}
	}

	// Ingest goes on after the bad events.
	s.Put("demo", "after.txt", []byte("still indexed"), minio.PutObjectOptions{})
	s.WaitConverged("demo", convergeTimeout)

	s.Eventually(convergeTimeout, "bad events recorded", func() error {
		values, err := s.Query("SELECT payload, error, sequence FROM ingest_errors ORDER BY sequence")
		if err != nil {
			return err
		}
		if len(values) != 3 {
			return errorf("%d ingest errors, want 3: %v", len(values), values)
		}
		if values[0][0] != "not json at all" || !strings.Contains(teststack.AsString(values[0][1]), "decode event JSON") {
			return errorf("first ingest error %v", values[0])
		}
		if !strings.Contains(teststack.AsString(values[2][1]), "decode object key") {
			return errorf("third ingest error %v", values[2])
		}
		return nil
	})
}

func TestIntegrationForcedBucketDeleteIsSwept(t *testing.T) {
	s := teststack.Start(t, "demo", "doomed")
	for i := range 5 {
		s.Put("doomed", keyf("file-%d.txt", i), []byte("bye"), minio.PutObjectOptions{})
	}
	s.Put("demo", "stays.txt", []byte("here"), minio.PutObjectOptions{})
	s.WaitConverged("doomed", convergeTimeout)

	// A forced bucket delete sends no per-object events.
	if err := s.S3.RemoveBucketWithOptions(context.Background(), "doomed", minio.RemoveBucketOptions{ForceDelete: true}); err != nil {
		t.Fatal(err)
	}
	out, err := execOutput(s.Bin, append([]string{"reconcile", "doomed", "demo"}, s.Flags()...)...)
	if err != nil {
		t.Fatalf("reconcile command: %v\n%s", err, out)
	}
	if !strings.Contains(out, "doomed: listed 0, created 0, updated 0, deleted 5") {
		t.Errorf("reconcile output %q, want 5 deletions in doomed", out)
	}

	rows, err := s.Rows("doomed")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 0 {
		t.Errorf("%d rows of the deleted bucket remain", len(rows))
	}
	s.WaitConverged("demo", convergeTimeout)
}

// TestIntegrationStaleAndDuplicateEventsConverge replays events that lie
// about the bucket: a put for a key that is gone, a delete for a key that
// exists, and the same event many times. The index must follow the bucket.
func TestIntegrationStaleAndDuplicateEventsConverge(t *testing.T) {
	s := teststack.Start(t, "demo")
	s.Put("demo", "present.txt", []byte("here"), minio.PutObjectOptions{})
	s.WaitConverged("demo", convergeTimeout)

	conn, err := nats.Connect("nats://"+s.NATSAddr, nats.UserInfo(s.Secrets.NATSUser, s.Secrets.NATSPassword))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	event := func(name, key string) []byte {
		return []byte(`{"EventName":"` + name + `","Key":"demo/` + key + `","Records":[{"eventName":"` + name +
			`","s3":{"bucket":{"name":"demo"},"object":{"key":"` + key + `"}}}]}`)
	}
	for range 20 {
		for _, payload := range [][]byte{
			event("s3:ObjectCreated:Put", "never-existed.txt"),
			event("s3:ObjectRemoved:DeleteMarkerCreated", "present.txt"),
			event("s3:ObjectRemoved:Delete", "present.txt"),
		} {
			if err := conn.Publish(broker.Subject, payload); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A real change after the lies, to know they have all been consumed.
	s.Put("demo", "marker.txt", []byte("after"), minio.PutObjectOptions{})

	rows := s.WaitConverged("demo", convergeTimeout)
	if _, ok := rows["never-existed.txt"]; ok {
		t.Error("a put event for a missing key invented a row")
	}
	if _, ok := rows["present.txt"]; !ok {
		t.Error("a delete event for an existing key removed its row")
	}
}

// TestIntegrationHotKeysUnderConcurrentWriters races puts and deletes on
// three keys from 16 writers; MinIO's events then arrive out of order, and
// the index must still end up equal to the bucket.
func TestIntegrationHotKeysUnderConcurrentWriters(t *testing.T) {
	s := teststack.Start(t, "demo")
	ctx := context.Background()
	keys := []string{"hot/a", "hot/b", "hot/c"}

	var wg sync.WaitGroup
	for writer := range 16 {
		wg.Go(func() {
			for op := range 25 {
				key := keys[(writer+op)%len(keys)]
				if (writer+op)%4 == 0 {
					s.S3.RemoveObject(ctx, "demo", key, minio.RemoveObjectOptions{})
					continue
				}
				body := strings.Repeat("v", 1+writer*25+op)
				s.S3.PutObject(ctx, "demo", key, strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{})
			}
		})
	}
	wg.Wait()

	s.WaitConverged("demo", convergeTimeout)
}
