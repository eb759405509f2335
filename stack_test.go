package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/arrow-mino/arrow-mino/minioserver"
)

// testBinary is arrow-mino built once for every integration test.
var testBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "arrow-mino-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testBinary = filepath.Join(dir, "arrow-mino")

	build := exec.Command("go", "build", "-o", testBinary, ".")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build arrow-mino:", err)
		os.Exit(1)
	}

	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// stack is a MinIO process and an arrow-mino process (embedded NATS) on
// free loopback ports, sharing one temporary data folder.
type stack struct {
	t       *testing.T
	root    string
	buckets []string

	s3Addr, consoleAddr, httpAddr, flightAddr, natsAddr string

	secrets minioserver.Secrets
	s3      *minio.Client

	mu   sync.Mutex
	logs map[string]*bytes.Buffer
	app  *exec.Cmd
}

// startStack starts MinIO and arrow-mino watching the given buckets, and
// waits until the first reconcile of each has run.
func startStack(t *testing.T, buckets ...string) *stack {
	t.Helper()
	minioBinary, err := filepath.Abs(filepath.Join(".bin", "minio"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(minioBinary); err != nil {
		t.Fatalf("MinIO server missing at %s: run `make 0-dep` (make test does it)", minioBinary)
	}

	s := &stack{
		t:           t,
		root:        t.TempDir(),
		buckets:     buckets,
		s3Addr:      freeAddr(t),
		consoleAddr: freeAddr(t),
		httpAddr:    freeAddr(t),
		flightAddr:  freeAddr(t),
		natsAddr:    freeAddr(t),
		logs:        map[string]*bytes.Buffer{},
	}
	if err := os.Symlink(minioBinary, filepath.Join(filepath.Dir(testBinary), "minio")); err != nil && !os.IsExist(err) {
		t.Fatal(err)
	}

	secrets, err := minioserver.LoadOrCreateSecrets(s.root)
	if err != nil {
		t.Fatal(err)
	}
	s.secrets = secrets

	minioProc := s.spawn("minio", "minio")
	t.Cleanup(func() { stopProcess(minioProc) })

	s.s3, err = minio.New(s.s3Addr, &minio.Options{Creds: credentials.NewStaticV4(secrets.MinioUser, secrets.MinioPassword, "")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.stopApp()
		if t.Failed() {
			s.dumpLogs()
		}
	})
	s.startApp()
	return s
}

// flags are the arguments every arrow-mino subcommand gets.
func (s *stack) flags() []string {
	return []string{
		"--dir", filepath.Join(s.root, "pb_data"),
		"--s3", s.s3Addr,
		"--s3-console", s.consoleAddr,
		"--nats-listen", s.natsAddr,
		"--flight", s.flightAddr,
		"--buckets", strings.Join(s.buckets, ","),
		"--log-level", "debug",
	}
}

func (s *stack) spawn(name string, args ...string) *exec.Cmd {
	s.t.Helper()
	cmd := exec.Command(testBinary, append(args, s.flags()...)...)
	s.mu.Lock()
	buffer := s.logs[name]
	if buffer == nil {
		buffer = &bytes.Buffer{}
		s.logs[name] = buffer
	}
	s.mu.Unlock()
	writer := &lockedWriter{mu: &s.mu, buffer: buffer}
	cmd.Stdout, cmd.Stderr = writer, writer
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", name, err)
	}
	return cmd
}

// startApp runs `arrow-mino serve` and waits until every bucket has been
// reconciled once.
func (s *stack) startApp() {
	s.t.Helper()
	s.app = s.spawn("app", "serve", "--http", s.httpAddr)
	s.eventually(30*time.Second, "every bucket reconciled", func() error {
		for _, bucket := range s.buckets {
			if !strings.Contains(s.log("app"), `msg="reconcile finished" component=ingest bucket=`+bucket+" ") {
				return fmt.Errorf("bucket %s not reconciled yet", bucket)
			}
		}
		return nil
	})
}

// stopApp stops arrow-mino with SIGTERM, as Ctrl-C would.
func (s *stack) stopApp() {
	if s.app != nil {
		stopProcess(s.app)
		s.app = nil
	}
}

// restartApp stops arrow-mino, runs between (with the app down), and starts
// it again; the log is cleared so waits see only the new run.
func (s *stack) restartApp(between func()) {
	s.t.Helper()
	s.stopApp()
	between()
	s.mu.Lock()
	s.logs["app"].Reset()
	s.mu.Unlock()
	s.startApp()
}

func (s *stack) log(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if buffer := s.logs[name]; buffer != nil {
		return buffer.String()
	}
	return ""
}

func (s *stack) dumpLogs() {
	for _, name := range []string{"minio", "app"} {
		text := s.log(name)
		if len(text) > 20000 {
			text = "...\n" + text[len(text)-20000:]
		}
		s.t.Logf("---- %s log ----\n%s", name, text)
	}
}

// eventually retries check until it passes or the timeout ends.
func (s *stack) eventually(timeout time.Duration, what string, check func() error) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: not true after %s: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// objectRow is what the index says about one key.
type objectRow struct {
	Key         string
	Size        int64
	ETag        string
	VersionID   string
	ContentType string
	Sniffed     string
	Kind        string
	Metadata    string
}

// rows reads a bucket's rows over Flight SQL, keyed by object key.
func (s *stack) rows(bucket string) (map[string]objectRow, error) {
	query := "SELECT key, size, etag, version_id, content_type, sniffed_type, kind, user_metadata FROM objects WHERE bucket = " + sqlString(bucket)
	records, err := s.query(query)
	if err != nil {
		return nil, err
	}

	rows := map[string]objectRow{}
	for _, values := range records {
		row := objectRow{
			Key:         asString(values[0]),
			ETag:        asString(values[2]),
			VersionID:   asString(values[3]),
			ContentType: asString(values[4]),
			Sniffed:     asString(values[5]),
			Kind:        asString(values[6]),
			Metadata:    asString(values[7]),
		}
		size, ok := values[1].(int64)
		if !ok {
			return nil, fmt.Errorf("size of %q is %T, want int64", row.Key, values[1])
		}
		row.Size = size
		rows[row.Key] = row
	}
	return rows, nil
}

// query runs SQL through the arrow-go Flight SQL client, logged in as the
// generated superuser, and returns every row as Go values.
func (s *stack) query(query string) ([][]any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	client, err := flightsql.NewClient(s.flightAddr, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer client.Close()

	ctx, err = client.Client.AuthenticateBasicToken(ctx, s.secrets.SuperuserEmail, s.secrets.SuperuserPassword)
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	info, err := client.Execute(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("execute: %w", err)
	}

	var rows [][]any
	for _, endpoint := range info.Endpoint {
		reader, err := client.DoGet(ctx, endpoint.Ticket)
		if err != nil {
			return nil, fmt.Errorf("do get: %w", err)
		}
		for reader.Next() {
			record := reader.RecordBatch()
			for i := 0; i < int(record.NumRows()); i++ {
				row := make([]any, record.NumCols())
				for c := range row {
					row[c] = record.Column(c).GetOneForMarshal(i)
				}
				rows = append(rows, row)
			}
		}
		err = reader.Err()
		reader.Release()
		if err != nil {
			return nil, fmt.Errorf("read stream: %w", err)
		}
	}
	return rows, nil
}

// truth lists what the bucket holds now, straight from MinIO.
func (s *stack) truth(bucket string) (map[string]minio.ObjectInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	objects := map[string]minio.ObjectInfo{}
	for object := range s.s3.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		if object.Err != nil {
			return nil, object.Err
		}
		objects[object.Key] = object
	}
	return objects, nil
}

// waitConverged waits until the index holds exactly the bucket's keys with
// their sizes and etags, and returns the rows.
func (s *stack) waitConverged(bucket string, timeout time.Duration) map[string]objectRow {
	s.t.Helper()
	var rows map[string]objectRow
	s.eventually(timeout, "index of "+bucket+" matches the bucket", func() error {
		objects, err := s.truth(bucket)
		if err != nil {
			return err
		}
		rows, err = s.rows(bucket)
		if err != nil {
			return err
		}
		return diffIndex(objects, rows)
	})
	return rows
}

func diffIndex(objects map[string]minio.ObjectInfo, rows map[string]objectRow) error {
	var problems []string
	for key, object := range objects {
		row, ok := rows[key]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("missing %q", key))
		case row.Size != object.Size || row.ETag != object.ETag:
			problems = append(problems, fmt.Sprintf("stale %q: row %d/%s, bucket %d/%s", key, row.Size, row.ETag, object.Size, object.ETag))
		}
	}
	for key := range rows {
		if _, ok := objects[key]; !ok {
			problems = append(problems, fmt.Sprintf("extra %q", key))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	sort.Strings(problems)
	if len(problems) > 10 {
		problems = append(problems[:10], fmt.Sprintf("... and %d more", len(problems)-10))
	}
	return fmt.Errorf("%s", strings.Join(problems, "; "))
}

func (s *stack) put(bucket, key string, data []byte, opts minio.PutObjectOptions) minio.UploadInfo {
	s.t.Helper()
	info, err := s.s3.PutObject(context.Background(), bucket, key, bytes.NewReader(data), int64(len(data)), opts)
	if err != nil {
		s.t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
	return info
}

func (s *stack) remove(bucket, key string, opts minio.RemoveObjectOptions) {
	s.t.Helper()
	if err := s.s3.RemoveObject(context.Background(), bucket, key, opts); err != nil {
		s.t.Fatalf("remove %s/%s: %v", bucket, key, err)
	}
}

func sqlString(text string) string {
	return "'" + strings.ReplaceAll(text, "'", "''") + "'"
}

func asString(value any) string {
	switch v := value.(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		data, _ := json.Marshal(v)
		return string(data)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	return listener.Addr().String()
}

// stopProcess sends SIGTERM and waits, killing after a bound.
func stopProcess(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

type lockedWriter struct {
	mu     *sync.Mutex
	buffer *bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buffer.Write(p)
}
