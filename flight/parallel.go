package flight

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/pocketbase/dbx"
	"modernc.org/sqlite"
)

// Full-table reads are CPU bound inside SQLite (every column value costs
// a few C-emulated calls), and one connection uses one core. A query that
// is exactly `SELECT <columns> FROM <table>` (no expression, filter,
// grouping or ordering) is therefore split into rowid ranges read on
// several guarded read connections at once, each building its own
// batches. Batches go out as they are ready, so rows come in rowid order
// within a range but ranges interleave; SQL promises no order without
// ORDER BY, and small tables (below parallelMinRows) are never split.
//
// All ranges must read the same snapshot. Every write in this process
// goes through PocketBase's single write connection, so the server holds
// that connection for the moment it takes to open a read transaction on
// each range connection: no commit can fall between them.
//
// By default the ranges are read through SQLite's C API rather than
// database/sql (rawscan.go); the guarded database/sql ranges below are
// the fallback and the Options.DriverScan path.

// parallelMinRows is the rowid span below which splitting does not pay.
const parallelMinRows = 200_000

// maxParallel caps range readers regardless of cores.
const maxParallel = 4

// writerWaitForSplit bounds the wait for PocketBase's writer before a
// split scan; past it the scan runs serially.
const writerWaitForSplit = 250 * time.Millisecond

// plainScanTable returns the table of a plain column scan, or "".
func plainScanTable(query string) string {
	// Comments or a ';' would make the appended range clause unsafe.
	if strings.Contains(query, "--") || strings.Contains(query, "/*") || strings.Contains(query, ";") {
		return ""
	}

	toks := tokenize(query)
	if len(toks) < 4 || !toks[0].is("SELECT") {
		return ""
	}

	i := 1
	for ; i < len(toks) && !toks[i].is("FROM"); i++ {
		t := toks[i]
		switch {
		case t.text == "*" || t.text == "," || t.text == ".":
		case t.is("DISTINCT") || t.is("ALL") || t.is("SELECT"):
			return ""
		case t.ident:
		default:
			// Functions, literals, parameters or operators: an aggregate or
			// expression cannot be computed per range.
			return ""
		}
	}

	rest := toks[i:]
	switch {
	case len(rest) == 2 && rest[1].ident:
		return rest[1].text
	case len(rest) == 4 && rest[1].ident && strings.EqualFold(rest[1].text, "main") && rest[2].text == "." && rest[3].ident:
		return rest[3].text
	}
	return ""
}

// hasRowidColumn reports whether a column shadows the rowid name we use.
func (s *Server) hasRowidColumn(ctx context.Context, table string) (bool, error) {
	var names []string
	err := s.app.ConcurrentDB().NewQuery("SELECT name FROM pragma_table_info({:t})").
		WithContext(ctx).Bind(dbx.Params{"t": table}).Column(&names)
	if err != nil {
		return false, err
	}
	if len(names) == 0 {
		return true, nil // a view or unknown: not splittable
	}
	for _, n := range names {
		if strings.EqualFold(n, "rowid") {
			return true, nil
		}
	}
	return false, nil
}

// rangeReader is one open range of a split scan.
type rangeReader struct {
	g      *guardedConn
	lo, hi int64
}

// streamParallel tries to serve query as a split scan. ok is false when
// it does not apply; the caller then streams serially.
// cols are the columns SQLite resolved for query under the authorizer.
func (s *Server) streamParallel(
	ctx, qctx context.Context, query string, cols []sqlite.ColumnInfo, announced resultShape,
) (_ <-chan flight.StreamChunk, ok bool) {
	want := s.opts.ScanParallelism
	if want == 0 {
		want = 2
	}
	parts := max(min(want, runtime.GOMAXPROCS(0), maxParallel), 1)

	table := plainScanTable(query)
	if table == "" || isInternalTable(table) {
		return nil, false
	}
	if shadowed, err := s.hasRowidColumn(ctx, table); err != nil || shadowed {
		return nil, false
	}

	// The raw path reads even a single range faster than database/sql.
	if !s.opts.DriverScan {
		if ch, ok := s.streamRaw(ctx, qctx, table, cols, announced, parts); ok {
			return ch, true
		}
	}
	if parts < 2 {
		return nil, false
	}

	readers, lo, hi := s.openRanges(ctx, table, parts)
	if readers == nil {
		return nil, false
	}
	if hi-lo < parallelMinRows {
		closeRanges(readers)
		return nil, false
	}

	span := (hi - lo + 1 + int64(parts) - 1) / int64(parts)
	for i, r := range readers {
		r.lo = lo + int64(i)*span
		r.hi = min(r.lo+span-1, hi)
	}

	rangeQuery := query + " WHERE rowid >= ? AND rowid <= ?"
	return s.fanIn(ctx, qctx, len(readers), func(rctx context.Context, i int, ch chan<- flight.StreamChunk) error {
		r := readers[i]
		defer r.finish()
		if err := r.scan(rctx, rangeQuery, announced, ch); err != nil {
			return r.g.sqlError("reading rows", err)
		}
		return nil
	}, func() {}), true
}

// fanIn runs scan once per range, each on its own goroutine, and merges
// their batches into one stream. The first error ends the stream for all
// ranges, a panic (these goroutines are outside the gRPC recovery
// interceptor) becomes an Internal error, and a query cancelled through
// qctx ends with errCancelled. after runs once every scan has returned.
func (s *Server) fanIn(ctx, qctx context.Context, ranges int,
	scan func(rctx context.Context, i int, ch chan<- flight.StreamChunk) error,
	after func()) <-chan flight.StreamChunk {
	ch := make(chan flight.StreamChunk, ranges)
	var wg sync.WaitGroup
	var errOnce sync.Once
	rctx, cancel := context.WithCancel(qctx)
	fail := func(err error) {
		errOnce.Do(func() { sendChunk(ctx, ch, flight.StreamChunk{Err: err}) })
		cancel()
	}

	for i := range ranges {
		wg.Add(1)
		s.streams.Add(1)
		go func() {
			defer s.streams.Done()
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					fail(s.panicked("DoGetStatement", p))
				}
			}()

			if err := scan(rctx, i, ch); err != nil && rctx.Err() == nil {
				fail(err)
			}
		}()
	}

	go func() {
		wg.Wait()
		if qctx.Err() != nil && ctx.Err() == nil {
			errOnce.Do(func() { sendChunk(ctx, ch, flight.StreamChunk{Err: errCancelled}) })
		}
		cancel()
		close(ch)
		after()
	}()
	return ch
}

// openRanges takes parts read connections and opens a read transaction
// on each while holding PocketBase's writer, so all share one snapshot.
// It returns the rowid bounds seen in that snapshot.
func (s *Server) openRanges(ctx context.Context, table string, parts int) ([]*rangeReader, int64, int64) {
	wdb, ok := s.app.NonconcurrentDB().(*dbx.DB)
	if !ok {
		return nil, 0, 0
	}

	var readers []*rangeReader
	fail := func() ([]*rangeReader, int64, int64) {
		closeRanges(readers)
		return nil, 0, 0
	}

	for range parts {
		g, err := acquireGuarded(ctx, s.app)
		if err != nil {
			return fail()
		}
		readers = append(readers, &rangeReader{g: g})
	}

	// Hold the writer only while the snapshots open. If a write (or a
	// Flight transaction's lease) holds it, scan serially rather than wait.
	wctx, cancel := context.WithTimeout(ctx, writerWaitForSplit)
	defer cancel()
	wconn, err := wdb.DB().Conn(wctx)
	if err != nil {
		return fail()
	}
	defer wconn.Close()

	var lo, hi int64
	bounds := rowidBounds(quoteIdent(table))
	for i, r := range readers {
		r.g.policy.setInternal(true)
		_, err := r.g.conn.ExecContext(ctx, "BEGIN")
		r.g.policy.setInternal(false)
		if err != nil {
			return fail()
		}

		var l, h int64
		if err := r.g.conn.QueryRowContext(ctx, bounds).Scan(&l, &h); err != nil {
			// The BEGIN is open on this one: end it before release.
			r.finish()
			readers = append(readers[:i], readers[i+1:]...)
			return fail()
		}
		lo, hi = l, h
	}
	return readers, lo, hi
}

// scan reads one rowid range and sends its batches.
func (r *rangeReader) scan(ctx context.Context, query string, shape resultShape, ch chan<- flight.StreamChunk) error {
	rows, err := r.g.conn.QueryContext(ctx, query, r.lo, r.hi)
	if err != nil {
		return err
	}
	defer rows.Close()

	bb := newBatchBuilder(memory.DefaultAllocator, shape)
	defer bb.release()

	send := func(rec arrow.RecordBatch) bool { return sendChunk(ctx, ch, flight.StreamChunk{Data: rec}) }
	if err := scanInto(rows, bb, send); err != nil {
		if err == errStopped {
			return nil
		}
		return err
	}
	if bb.rows > 0 {
		send(bb.flush())
	}
	return nil
}

// finish ends the read transaction and releases the connection.
func (r *rangeReader) finish() {
	r.g.policy.setInternal(true)
	_, _ = r.g.conn.ExecContext(context.Background(), "ROLLBACK")
	r.g.policy.setInternal(false)
	r.g.release()
}

func closeRanges(readers []*rangeReader) {
	for _, r := range readers {
		r.finish()
	}
}

// rowidBounds is a query for the lowest and highest rowid of table (0 and
// -1 when it is empty). Each bound is its own subquery: SQLite answers a
// lone min() or max() of the rowid from the b-tree's edge, but a query
// with both aggregates scans the whole table.
func rowidBounds(table string) string {
	return "SELECT coalesce((SELECT min(rowid) FROM " + table + "), 0), coalesce((SELECT max(rowid) FROM " + table + "), -1)"
}
