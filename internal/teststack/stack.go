// Package teststack starts the real parts arrow-mino runs with, a MinIO
// process and an arrow-mino process with embedded NATS, on free loopback
// ports in a temporary folder, for integration tests and benchmarks.
package teststack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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

var (
	buildOnce   sync.Once
	builtBinary string
	buildErr    error
)

// Binary builds arrow-mino once per test process and returns its path;
// the MinIO server from .bin/ is linked beside it, where the program's
// `minio` command looks first.
func Binary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		root := repoRoot()
		dir, err := os.MkdirTemp("", "arrow-mino-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBinary = filepath.Join(dir, "arrow-mino")

		build := exec.Command("go", "build", "-o", builtBinary, ".")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build arrow-mino: %v\n%s", err, out)
			return
		}

		minioBinary := filepath.Join(root, ".bin", "minio")
		if _, err := os.Stat(minioBinary); err != nil {
			buildErr = fmt.Errorf("MinIO server missing at %s: run `make 0-dep` (make test does it)", minioBinary)
			return
		}
		buildErr = os.Symlink(minioBinary, filepath.Join(dir, "minio"))
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return builtBinary
}

// Main runs a package's tests and then Cleanup; use it as the body of
// TestMain in packages that start stacks.
func Main(m *testing.M) {
	code := m.Run()
	Cleanup()
	os.Exit(code)
}

// Cleanup removes the arrow-mino build made by Binary; Main calls it
// after the tests ran.
func Cleanup() {
	if builtBinary != "" {
		os.RemoveAll(filepath.Dir(builtBinary))
	}
}

// repoRoot is the folder of go.mod, two levels above this file.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Stack is a MinIO process and an arrow-mino process (embedded NATS) on
// free loopback ports, sharing one temporary data folder.
type Stack struct {
	t testing.TB
	// Bin is the arrow-mino executable.
	Bin      string
	root     string
	buckets  []string
	logLevel string

	s3Addr, consoleAddr string

	// HTTPAddr, FlightAddr and NATSAddr are where arrow-mino listens.
	HTTPAddr, FlightAddr, NATSAddr string

	// Secrets are the generated credentials of this stack.
	Secrets minioserver.Secrets

	// S3 is a client of the stack's MinIO, as the root user.
	S3 *minio.Client

	mu   sync.Mutex
	logs map[string]*bytes.Buffer
	app  *exec.Cmd
}

// Start starts MinIO and arrow-mino watching the given buckets, and
// waits until the first reconcile of each has run.
func Start(t testing.TB, buckets ...string) *Stack {
	t.Helper()
	return start(t, "debug", buckets)
}

// StartQuiet is Start with arrow-mino logging at info level, for
// benchmarks that should not pay for a debug line per object.
func StartQuiet(t testing.TB, buckets ...string) *Stack {
	t.Helper()
	return start(t, "info", buckets)
}

func start(t testing.TB, logLevel string, buckets []string) *Stack {
	t.Helper()
	s := &Stack{
		t:           t,
		Bin:         Binary(t),
		root:        t.TempDir(),
		buckets:     buckets,
		logLevel:    logLevel,
		s3Addr:      freeAddr(t),
		consoleAddr: freeAddr(t),
		HTTPAddr:    freeAddr(t),
		FlightAddr:  freeAddr(t),
		NATSAddr:    freeAddr(t),
		logs:        map[string]*bytes.Buffer{},
	}
	secrets, err := minioserver.LoadOrCreateSecrets(s.root)
	if err != nil {
		t.Fatal(err)
	}
	s.Secrets = secrets

	minioProc := s.spawn("minio", "minio")
	t.Cleanup(func() { stopProcess(minioProc) })

	s.S3, err = minio.New(s.s3Addr, &minio.Options{Creds: credentials.NewStaticV4(secrets.MinioUser, secrets.MinioPassword, "")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.StopApp()
		if t.Failed() {
			s.dumpLogs()
		}
	})
	s.StartApp()
	return s
}

// Flags are the arguments every arrow-mino subcommand gets.
func (s *Stack) Flags() []string {
	return []string{
		"--dir", filepath.Join(s.root, "pb_data"),
		"--s3", s.s3Addr,
		"--s3-console", s.consoleAddr,
		"--nats-listen", s.NATSAddr,
		"--flight", s.FlightAddr,
		"--buckets", strings.Join(s.buckets, ","),
		"--log-level", s.logLevel,
	}
}

func (s *Stack) spawn(name string, args ...string) *exec.Cmd {
	s.t.Helper()
	cmd := exec.Command(s.Bin, append(args, s.Flags()...)...)
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

// StartApp runs `arrow-mino serve` and waits until every bucket has been
// reconciled once.
func (s *Stack) StartApp() {
	s.t.Helper()
	s.app = s.spawn("app", "serve", "--http", s.HTTPAddr)
	s.Eventually(30*time.Second, "every bucket reconciled", func() error {
		for _, bucket := range s.buckets {
			if !strings.Contains(s.Log("app"), `msg="reconcile finished" component=ingest bucket=`+bucket+" ") {
				return fmt.Errorf("bucket %s not reconciled yet", bucket)
			}
		}
		return nil
	})
}

// StopApp stops arrow-mino with SIGTERM, as Ctrl-C would.
func (s *Stack) StopApp() {
	if s.app != nil {
		stopProcess(s.app)
		s.app = nil
	}
}

// RestartApp stops arrow-mino, runs between (with the app down), and starts
// it again; the log is cleared so waits see only the new run.
func (s *Stack) RestartApp(between func()) {
	s.t.Helper()
	s.StopApp()
	between()
	s.mu.Lock()
	s.logs["app"].Reset()
	s.mu.Unlock()
	s.StartApp()
}

// Log is what the named process ("minio" or "app") has printed so far.
func (s *Stack) Log(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if buffer := s.logs[name]; buffer != nil {
		return buffer.String()
	}
	return ""
}

func (s *Stack) dumpLogs() {
	for _, name := range []string{"minio", "app"} {
		text := s.Log(name)
		if len(text) > 20000 {
			text = "...\n" + text[len(text)-20000:]
		}
		s.t.Logf("---- %s log ----\n%s", name, text)
	}
}

// Eventually retries check until it passes or the timeout ends.
func (s *Stack) Eventually(timeout time.Duration, what string, check func() error) {
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

// ObjectRow is what the index says about one key.
type ObjectRow struct {
	Key         string
	Size        int64
	ETag        string
	VersionID   string
	ContentType string
	Sniffed     string
	Kind        string
	Metadata    string
}

// Rows reads a bucket's rows over Flight SQL, keyed by object key.
func (s *Stack) Rows(bucket string) (map[string]ObjectRow, error) {
	query := "SELECT key, size, etag, version_id, content_type, sniffed_type, kind, user_metadata FROM objects WHERE bucket = " + SQLString(bucket)
	records, err := s.Query(query)
	if err != nil {
		return nil, err
	}

	rows := map[string]ObjectRow{}
	for _, values := range records {
		row := ObjectRow{
			Key:         AsString(values[0]),
			ETag:        AsString(values[2]),
			VersionID:   AsString(values[3]),
			ContentType: AsString(values[4]),
			Sniffed:     AsString(values[5]),
			Kind:        AsString(values[6]),
			Metadata:    AsString(values[7]),
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

// Query runs SQL through the arrow-go Flight SQL client, logged in as the
// generated superuser, and returns every row as Go values.
func (s *Stack) Query(query string) ([][]any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	client, err := flightsql.NewClient(s.FlightAddr, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer client.Close()

	ctx, err = client.Client.AuthenticateBasicToken(ctx, s.Secrets.SuperuserEmail, s.Secrets.SuperuserPassword)
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

// Truth lists what the bucket holds now, straight from MinIO.
func (s *Stack) Truth(bucket string) (map[string]minio.ObjectInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	objects := map[string]minio.ObjectInfo{}
	for object := range s.S3.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		if object.Err != nil {
			return nil, object.Err
		}
		objects[object.Key] = object
	}
	return objects, nil
}

// WaitConverged waits until the index holds exactly the bucket's keys with
// their sizes and etags, and returns the rows.
func (s *Stack) WaitConverged(bucket string, timeout time.Duration) map[string]ObjectRow {
	s.t.Helper()
	var rows map[string]ObjectRow
	s.Eventually(timeout, "index of "+bucket+" matches the bucket", func() error {
		objects, err := s.Truth(bucket)
		if err != nil {
			return err
		}
		rows, err = s.Rows(bucket)
		if err != nil {
			return err
		}
		return diffIndex(objects, rows)
	})
	return rows
}

func diffIndex(objects map[string]minio.ObjectInfo, rows map[string]ObjectRow) error {
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

// Put uploads data, failing the test on error.
func (s *Stack) Put(bucket, key string, data []byte, opts minio.PutObjectOptions) minio.UploadInfo {
	s.t.Helper()
	info, err := s.S3.PutObject(context.Background(), bucket, key, bytes.NewReader(data), int64(len(data)), opts)
	if err != nil {
		s.t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
	return info
}

// Remove deletes a key (or a version), failing the test on error.
func (s *Stack) Remove(bucket, key string, opts minio.RemoveObjectOptions) {
	s.t.Helper()
	if err := s.S3.RemoveObject(context.Background(), bucket, key, opts); err != nil {
		s.t.Fatalf("remove %s/%s: %v", bucket, key, err)
	}
}

// SQLString quotes text as an SQL string literal (test-made text only).
func SQLString(text string) string {
	return "'" + strings.ReplaceAll(text, "'", "''") + "'"
}

// AsString renders a value read over Flight SQL as text.
func AsString(value any) string {
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

// Test ports come from below Linux's ephemeral range (32768-60999): a
// port picked there and released could be taken as the source port of any
// outgoing connection before the process meant to listen on it starts.
const (
	lowestTestPort = 20000
	testPortRange  = 12000
)

// handedOut remembers the ports this test process gave away, so that two
// stacks, or two services of one stack, never share one.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// freeAddr returns a loopback address whose port is free now.
func freeAddr(t testing.TB) string {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 200 {
		port := lowestTestPort + rand.IntN(testPortRange)
		if handedOut.ports[port] {
			continue
		}
		listener, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		listener.Close()
		handedOut.ports[port] = true
		return listener.Addr().String()
	}
	t.Fatal("no free loopback port found")
	return ""
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
