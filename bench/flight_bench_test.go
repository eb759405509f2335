package bench

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql/example"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"encoding/base64"

	"github.com/arrow-mino/arrow-mino/flight"
)

const (
	flightBenchRows    = 1_000_000
	pointClients       = 8
	pointMaxQueries    = 20_000
	pointMaxDuration   = 5 * time.Second
	flightBenchEmail   = "bench@example.com"
	flightBenchPasswd  = "bench-password-123"
	flightBenchMaxRecv = 64 << 20
)

// BenchmarkFlightScan compares a full scan of a 1,000,000 x 13 PocketBase
// collection read through the arrow-go Flight SQL client from arrow-mino's
// server with two baselines on the same database file: a raw modernc
// database/sql scan and the arrow-go example server. The example panics on
// the NUMERIC/BOOLEAN/JSON columns PocketBase declares, so it reads a
// copy of the table in the same file declared INTEGER/REAL/TEXT.
func BenchmarkFlightScan(b *testing.B) {
	// NewTestApp runs the system migrations in a clone of an empty dir.
	app, err := tests.NewTestApp(b.TempDir())
	if err != nil {
		b.Fatalf("bootstrapping pocketbase: %v", err)
	}
	defer app.Cleanup()
	dir := app.DataDir()

	start := time.Now()
	if err := makeBenchData(app); err != nil {
		b.Fatal(err)
	}
	b.Logf("made %d rows x 13 columns in %.1fs", flightBenchRows, time.Since(start).Seconds())

	// Our server, reading serially.
	srv := flight.New(app, flight.Options{Addr: "127.0.0.1:0", ScanParallelism: 1})
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	defer srv.Stop()

	// The example server on its own pool over the same file.
	exDB, err := sql.Open("sqlite", filepath.Join(dir, "data.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		b.Fatal(err)
	}
	defer exDB.Close()
	exSrv, err := example.NewSQLiteFlightSQLServer(exDB)
	if err != nil {
		b.Fatal(err)
	}
	ex := aflight.NewServerWithMiddleware(nil)
	ex.RegisterFlightService(flightsql.NewFlightServer(exSrv))
	if err := ex.Init("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	go ex.Serve()
	defer ex.Shutdown()

	b.ResetTimer()

	rawSecs := rawScan(b, exDB)
	exScan := flightScan(b, ex.Addr().String(), context.Background(), "SELECT * FROM bench_plain", flightBenchRows)
	oursCtx := basicAuth(context.Background())
	ourScan := flightScan(b, srv.Addr(), oursCtx, "SELECT * FROM bench", flightBenchRows)

	// The same server with its defaults: plain scans split over two read
	// connections on two or more cores.
	par := flight.New(app, flight.Options{Addr: "127.0.0.1:0"})
	if err := par.Start(); err != nil {
		b.Fatal(err)
	}
	defer par.Stop()
	parScan := flightScan(b, par.Addr(), oursCtx, "SELECT * FROM bench", flightBenchRows)

	fmt.Printf("full scan %d rows x 13 cols:\n", flightBenchRows)
	fmt.Printf("  raw modernc database/sql scan: %.2fs\n", rawSecs)
	for _, line := range []struct {
		name string
		cost scanCost
	}{{"arrow-go example server:    ", exScan}, {"arrow-mino, serial scan:    ", ourScan}, {"arrow-mino, default (split):", parScan}} {
		fmt.Printf("  %s   %.2fs (heap in use +%d MiB, live heap +%.1f MiB)\n",
			line.name, line.cost.secs, line.cost.heapGrowth>>20, float64(line.cost.liveGrowth)/(1<<20))
	}
	fmt.Printf("  default vs example: %.2fx faster; default vs raw scan: %.2fx faster\n", exScan.secs/parScan.secs, rawSecs/parScan.secs)
	fmt.Printf("  serial vs example:  %.2fx faster; serial vs raw scan:  %.2fx faster\n", exScan.secs/ourScan.secs, rawSecs/ourScan.secs)

	exLat := pointQueries(b, ex.Addr().String(), context.Background(), "bench_plain")
	ourLat := pointQueries(b, par.Addr(), oursCtx, "bench")
	fmt.Printf("point queries, %d clients:\n  example: %s\n  ours:    %s\n", pointClients, exLat, ourLat)

	// The same point queries while records are saved through PocketBase's
	// single writer, as ingest saves them.
	stopWriting := ingestLikeWrites(b, app)
	busyLat := pointQueries(b, par.Addr(), oursCtx, "bench")
	writes, seconds := stopWriting()
	fmt.Printf("  ours while %.0f records/s are saved (%d in %.1fs): %s\n",
		float64(writes)/seconds, writes, seconds, busyLat)

	memoryAsResultsGrow(b, app, par.Addr(), oursCtx)
}

// memoryAsResultsGrow scans the bench table whole, then cut to a tenth
// and to a hundredth of its rows (same table, same schema, same scan
// path). Twenty times during each scan the client stops, collects garbage
// and reads what is still reachable (server and client share this
// process): if the server kept anything per row, the later checkpoints
// and the larger scans would show it. The client's gRPC receive window
// is pinned to 1 MiB: by default it grows with the stream's throughput
// (BDP estimation, up to 16 MiB), which is client memory.
func memoryAsResultsGrow(b *testing.B, app core.App, addr string, ctx context.Context) {
	var total int
	if err := app.ConcurrentDB().NewQuery("SELECT count(*) FROM bench").Row(&total); err != nil {
		b.Fatalf("counting bench rows: %v", err)
	}

	fmt.Printf("memory as the result grows (default scan; reachable heap after a GC at 20 points of each scan):\n")
	var medians []float64
	for _, rows := range []int{total, total / 10, total / 100} {
		cut := fmt.Sprintf("DELETE FROM bench WHERE rowid NOT IN (SELECT rowid FROM bench ORDER BY rowid LIMIT %d)", rows)
		if _, err := app.NonconcurrentDB().NewQuery(cut).Execute(); err != nil {
			b.Fatalf("cutting bench to %d rows: %v", rows, err)
		}

		points := reachableDuringScan(b, addr, ctx, "SELECT * FROM bench", rows, 20)
		half := len(points) / 2
		medians = append(medians, median(points))
		fmt.Printf("  %8d rows: median +%.1f MiB (first half of the scan +%.1f, second half +%.1f; range +%.1f to +%.1f)\n",
			rows, median(points), median(points[:half]), median(points[half:]), slices.Min(points), slices.Max(points))
	}
	fmt.Printf("  median, %d rows vs %d rows: %.2fx for 100x the rows\n", total, total/100, medians[0]/medians[2])
}

// median of values (which it sorts a copy of).
func median(values []float64) float64 {
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	mid := len(sorted) / 2
	if len(sorted)%2 == 0 {
		return (sorted[mid-1] + sorted[mid]) / 2
	}
	return sorted[mid]
}

// reachableDuringScan runs query and, at every rows/points rows, forces
// a garbage collection and records how far the reachable heap is above
// where it stood before the scan, in MiB.
func reachableDuringScan(b *testing.B, addr string, ctx context.Context, query string, rows, points int) []float64 {
	cl := scanClient(b, addr, grpc.WithInitialWindowSize(1<<20), grpc.WithInitialConnWindowSize(1<<20))
	defer cl.Close()

	before := liveHeap()
	var growth []float64
	step := max(rows/points, 1)
	next := step
	n := readAll(b, ctx, cl, query, func(n int) {
		if n >= next {
			growth = append(growth, (float64(liveHeap())-float64(before))/(1<<20))
			next += step
		}
	})
	if n != rows {
		b.Fatalf("%q: got %d rows, want %d", query, n, rows)
	}
	if len(growth) == 0 {
		growth = append(growth, (float64(liveHeap())-float64(before))/(1<<20))
	}
	return growth
}

// scanClient dials the arrow-go Flight SQL client the scans use.
func scanClient(b *testing.B, addr string, extra ...grpc.DialOption) *flightsql.Client {
	opts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(flightBenchMaxRecv)),
	}, extra...)
	cl, err := flightsql.NewClient(addr, nil, nil, opts...)
	if err != nil {
		b.Fatal(err)
	}
	return cl
}

// readAll runs query, streams every endpoint, touches every value and,
// after each batch, calls afterBatch (when not nil) with the rows read
// so far. It returns the number of rows.
func readAll(b *testing.B, ctx context.Context, cl *flightsql.Client, query string, afterBatch func(rows int)) int {
	info, err := cl.Execute(ctx, query)
	if err != nil {
		b.Fatalf("execute %q: %v", query, err)
	}

	n := 0
	for _, ep := range info.Endpoint {
		rdr, err := cl.DoGet(ctx, ep.Ticket)
		if err != nil {
			b.Fatal(err)
		}
		for rdr.Next() {
			rec := rdr.RecordBatch()
			touch(rec)
			n += int(rec.NumRows())
			if afterBatch != nil {
				afterBatch(n)
			}
		}
		if err := rdr.Err(); err != nil {
			b.Fatal(err)
		}
		rdr.Release()
	}
	return n
}

// ingestWritesPerSecond is the pace of ingestLikeWrites: above what the
// ingest benchmark indexes on this machine (about 300 rows/s).
const ingestWritesPerSecond = 500

// ingestLikeWrites saves small records into their own collection through
// app.Save at ingestWritesPerSecond, until the returned stop is called (or
// pointMaxDuration passes twice over).
func ingestLikeWrites(b *testing.B, app core.App) (stop func() (int64, float64)) {
	collection := core.NewBaseCollection("ingest_load")
	collection.Fields.Add(
		&core.TextField{Name: "key"},
		&core.NumberField{Name: "size", OnlyInt: true},
		&core.JSONField{Name: "user_metadata"},
	)
	if err := app.Save(collection); err != nil {
		b.Fatalf("create ingest_load: %v", err)
	}

	var written atomic.Int64
	done := make(chan struct{})
	finished := make(chan struct{})
	started := time.Now()
	deadline := started.Add(2 * pointMaxDuration)
	go func() {
		defer close(finished)
		pace := time.NewTicker(time.Second / ingestWritesPerSecond)
		defer pace.Stop()
		for i := 0; time.Now().Before(deadline); i++ {
			select {
			case <-done:
				return
			case <-pace.C:
			}
			record := core.NewRecord(collection)
			record.Set("key", fmt.Sprintf("load/%07d", i))
			record.Set("size", i)
			record.Set("user_metadata", map[string]string{"n": fmt.Sprint(i)})
			if err := app.Save(record); err != nil {
				b.Errorf("save during point queries: %v", err)
				return
			}
			written.Add(1)
		}
	}()
	return func() (int64, float64) {
		close(done)
		<-finished
		return written.Load(), time.Since(started).Seconds()
	}
}

// makeBenchData creates the collection and fills it in one INSERT ...
// SELECT over a recursive CTE, then the example's plainly typed copy.
func makeBenchData(app core.App) error {
	c := core.NewBaseCollection("bench")
	c.Fields.Add(
		&core.TextField{Name: "title"},
		&core.TextField{Name: "body"},
		&core.TextField{Name: "kind"},
		&core.NumberField{Name: "count", OnlyInt: true},
		&core.NumberField{Name: "price"},
		&core.NumberField{Name: "score"},
		&core.BoolField{Name: "ok"},
		&core.BoolField{Name: "flag"},
		&core.DateField{Name: "happened"},
		&core.JSONField{Name: "meta"},
		&core.TextField{Name: "note"},
		&core.TextField{Name: "tag"},
	)
	if err := app.Save(c); err != nil {
		return fmt.Errorf("saving bench collection: %w", err)
	}

	fill := fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < %d)
		INSERT INTO bench (id, title, body, kind, count, price, score, ok, flag, happened, meta, note, tag)
		SELECT printf('%%015d', i), 'title ' || i, 'body text of row number ' || i || ' with some padding',
			CASE i %% 3 WHEN 0 THEN 'image' WHEN 1 THEN 'video' ELSE 'other' END,
			i, i * 0.25, i %% 1000,
			i %% 2 = 0, i %% 7 = 0, '2024-03-31 01:30:00.000Z', CASE WHEN i %% 10 = 0 THEN NULL ELSE '{"k":' || i || '}' END,
			CASE WHEN i %% 5 = 0 THEN '' ELSE 'note' END, 'tag' || (i %% 100)
		FROM n`, flightBenchRows)
	if _, err := app.NonconcurrentDB().NewQuery(fill).Execute(); err != nil {
		return fmt.Errorf("filling bench: %w", err)
	}

	plain := `CREATE TABLE bench_plain (id TEXT, title TEXT, body TEXT, kind TEXT, count INTEGER, price REAL, score REAL,
		ok INTEGER, flag INTEGER, happened TEXT, meta TEXT, note TEXT, tag TEXT)`
	if _, err := app.NonconcurrentDB().NewQuery(plain).Execute(); err != nil {
		return fmt.Errorf("creating bench_plain: %w", err)
	}
	// The example gets the same primary-key lookup PocketBase has.
	if _, err := app.NonconcurrentDB().NewQuery("CREATE UNIQUE INDEX bench_plain_id ON bench_plain(id)").Execute(); err != nil {
		return fmt.Errorf("indexing bench_plain: %w", err)
	}
	copyRows := `INSERT INTO bench_plain SELECT id, title, body, kind, count, price, score, ok, flag, happened, meta, note, tag FROM bench`
	if _, err := app.NonconcurrentDB().NewQuery(copyRows).Execute(); err != nil {
		return fmt.Errorf("copying bench_plain: %w", err)
	}

	return addBenchSuperuser(app)
}

// addBenchSuperuser saves the superuser the benchmarks connect as.
func addBenchSuperuser(app core.App) error {
	su, err := app.FindCollectionByNameOrId(core.CollectionNameSuperusers)
	if err != nil {
		return fmt.Errorf("finding superusers: %w", err)
	}
	r := core.NewRecord(su)
	r.SetEmail(flightBenchEmail)
	r.SetPassword(flightBenchPasswd)
	if err := app.Save(r); err != nil {
		return fmt.Errorf("saving superuser: %w", err)
	}
	return nil
}

func basicAuth(ctx context.Context) context.Context {
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(flightBenchEmail+":"+flightBenchPasswd))
	return metadata.AppendToOutgoingContext(ctx, "authorization", auth)
}

// rawScan reads every column of every row with database/sql.
func rawScan(b *testing.B, db *sql.DB) float64 {
	start := time.Now()

	rows, err := db.Query("SELECT * FROM bench")
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()

	vals := make([]any, 13)
	ptrs := make([]any, 13)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			b.Fatal(err)
		}
		n++
	}
	if err := rows.Err(); err != nil || n != flightBenchRows {
		b.Fatalf("raw scan: %d rows, err %v", n, err)
	}
	return time.Since(start).Seconds()
}

// scanCost is what one scan took: seconds, the peak growth of the heap in
// use (garbage included) and the peak growth of the live heap (what the
// garbage collector found reachable), both against the heap before it.
type scanCost struct {
	secs       float64
	heapGrowth uint64
	liveGrowth uint64
}

// flightScan runs query through the arrow-go client, touches every value
// and returns what that cost.
func flightScan(b *testing.B, addr string, ctx context.Context, query string, wantRows int) scanCost {
	cl := scanClient(b, addr)
	defer cl.Close()

	liveBefore := liveHeap()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	peak := peakHeap(20 * time.Millisecond)
	peakLive := peakLiveHeap(5 * time.Millisecond)

	start := time.Now()
	n := readAll(b, ctx, cl, query, nil)
	secs := time.Since(start).Seconds()

	if n != wantRows {
		b.Fatalf("%q: got %d rows, want %d", query, n, wantRows)
	}

	cost := scanCost{secs: secs}
	if max := peak(); max > before.HeapInuse {
		cost.heapGrowth = max - before.HeapInuse
	}
	if max := peakLive(); max > liveBefore {
		cost.liveGrowth = max - liveBefore
	}
	return cost
}

// touch reads every value of every column, so no client is credited for
// skipping decoding.
func touch(rec arrow.RecordBatch) {
	var sink int
	for _, col := range rec.Columns() {
		for i := 0; i < col.Len(); i++ {
			if col.IsNull(i) {
				continue
			}
			switch c := col.(type) {
			case *array.String:
				sink += len(c.Value(i))
			case *array.Int64:
				sink += int(c.Value(i))
			case *array.Float64:
				sink += int(c.Value(i))
			case *array.Boolean:
				if c.Value(i) {
					sink++
				}
			case *array.Timestamp:
				sink += int(c.Value(i))
			default:
				sink += len(c.ValueStr(i))
			}
		}
	}
	touchSink.Add(int64(sink))
}

var touchSink atomic.Int64

// pointQueries runs single-row lookups by id from several clients until
// pointMaxQueries or pointMaxDuration, and summarises latency.
func pointQueries(b *testing.B, addr string, ctx context.Context, table string) string {
	var (
		mu    sync.Mutex
		lats  []time.Duration
		count atomic.Int64
		wg    sync.WaitGroup
	)
	deadline := time.Now().Add(pointMaxDuration)
	start := time.Now()

	for c := 0; c < pointClients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()

			cl, err := flightsql.NewClient(addr, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				b.Error(err)
				return
			}
			defer cl.Close()

			var local []time.Duration
			for i := c; time.Now().Before(deadline) && count.Add(1) <= pointMaxQueries; i += pointClients {
				id := fmt.Sprintf("%015d", i*7919%flightBenchRows+1)
				t0 := time.Now()
				info, err := cl.Execute(ctx, "SELECT * FROM "+table+" WHERE id = '"+id+"'")
				if err != nil {
					b.Error(err)
					return
				}
				rdr, err := cl.DoGet(ctx, info.Endpoint[0].Ticket)
				if err != nil {
					b.Error(err)
					return
				}
				rows := 0
				for rdr.Next() {
					rows += int(rdr.RecordBatch().NumRows())
				}
				rdr.Release()
				if rows != 1 {
					b.Errorf("point query %s: %d rows", id, rows)
					return
				}
				local = append(local, time.Since(t0))
			}

			mu.Lock()
			lats = append(lats, local...)
			mu.Unlock()
		}(c)
	}
	wg.Wait()
	elapsed := time.Since(start)

	if len(lats) == 0 {
		return "no queries completed"
	}
	slices.Sort(lats)
	p := func(q float64) time.Duration { return lats[int(q*float64(len(lats)-1))] }
	return fmt.Sprintf("%d queries in %.1fs, %.0f q/s, p50 %v, p99 %v",
		len(lats), elapsed.Seconds(), float64(len(lats))/elapsed.Seconds(), p(0.50).Round(time.Microsecond), p(0.99).Round(time.Microsecond))
}
