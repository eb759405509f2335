package flight

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/pocketbase/dbx"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// A plain full-table scan (see plainScanTable) is read below database/sql
// unless Options.DriverScan is set: each rowid range gets its own
// read-only rawConn and goroutine, which steps SQLite and appends column
// values straight into the Arrow builders.
//
// Security: the client's statement has already been prepared under the
// authorizer (stream's columnInfo) and its table checked not internal.
// The SQL run here is rebuilt from the table and column names SQLite
// reported for it; no client text reaches a rawConn. A secret column is
// selected as NULL, what the authorizer's Ignore gives (in practice the
// Ignore already leaves it without an origin, so such a scan falls back).
//
// Consistency: with several ranges, every connection opens its read
// transaction while the server holds PocketBase's writer (as openRanges
// does), so all ranges read one snapshot. Without that hold the scan
// reads a single range.

// maxRawConns bounds the raw connections of one server: each holds a
// file descriptor and SQLite's page cache.
const maxRawConns = 16

// rawRange is one open range of a raw scan.
type rawRange struct {
	c      *rawConn
	stmt   uintptr
	lo, hi int64
	// slots is the server's connection budget; close frees one.
	slots chan struct{}
}

// close finalizes the statement, ends the read transaction and closes the
// connection.
func (r *rawRange) close() {
	r.c.finalize(r.stmt)
	r.stmt = 0
	// Closing also ends the transaction; the ROLLBACK releases the snapshot
	// even if close were deferred by an unfinalized statement.
	_ = r.c.exec("ROLLBACK")
	r.c.close()
	<-r.slots
}

// rawSelect rebuilds the scan's SQL from the columns SQLite resolved for
// the client's statement. ok is false when a column is not a plain column
// of table, or is declared as a date the driver would parse itself.
func (s *Server) rawSelect(table string, cols []sqlite.ColumnInfo) (string, bool) {
	if len(cols) == 0 {
		return "", false
	}
	t, err := tablesOf(s.app)
	if err != nil {
		return "", false
	}

	list := make([]string, len(cols))
	for i, c := range cols {
		plain := c.OriginName != "" && strings.EqualFold(c.TableName, table) &&
			!isInternalTable(c.TableName) && strings.EqualFold(c.DatabaseName, "main")
		if !plain {
			return "", false
		}
		switch strings.ToUpper(strings.TrimSpace(c.DeclType)) {
		case "DATE", "DATETIME", "TIMESTAMP":
			return "", false
		}

		list[i] = quoteIdent(c.OriginName)
		if t.hidden[c.TableName+"\x00"+c.OriginName] {
			list[i] = "NULL"
		}
	}

	return "SELECT " + strings.Join(list, ", ") + " FROM main." + quoteIdent(cols[0].TableName) +
		" WHERE rowid >= ?1 AND rowid <= ?2", true
}

// streamRaw tries to serve a plain scan of table through raw connections.
// ok is false when it does not apply; the caller then uses database/sql.
func (s *Server) streamRaw(
	ctx, qctx context.Context, table string, cols []sqlite.ColumnInfo, announced resultShape, parts int,
) (_ <-chan flight.StreamChunk, ok bool) {
	query, ok := s.rawSelect(table, cols)
	if !ok {
		return nil, false
	}

	ranges, ok := s.openRawRanges(ctx, table, query, len(cols), parts)
	if !ok {
		return nil, false
	}

	var bad atomic.Int64
	return s.fanIn(ctx, qctx, len(ranges), func(rctx context.Context, i int, ch chan<- flight.StreamChunk) error {
		r := ranges[i]
		defer r.close()
		n, err := r.scan(rctx, announced, ch)
		bad.Add(int64(n))
		if err != nil {
			return status.Errorf(codes.Internal, "reading rows: %v", err)
		}
		return nil
	}, func() {
		if n := bad.Load(); n > 0 {
			s.logger.Warn("flight query had values that did not fit their column type; sent as null",
				"nulled_values", n)
		}
	}), true
}

// openRawRanges opens up to parts raw connections, starts one snapshot on
// each and prepares query on each for its share of the rowid span. A
// small table, a busy writer or a lack of connection slots leaves one
// range reading everything.
func (s *Server) openRawRanges(
	ctx context.Context, table, query string, ncols, parts int,
) ([]*rawRange, bool) {
	path, ok := s.mainDBFile(ctx)
	if !ok {
		return nil, false
	}

	var ranges []*rawRange
	fail := func() ([]*rawRange, bool) {
		for _, r := range ranges {
			r.close()
		}
		return nil, false
	}

	// The first range alone decides whether splitting pays, so a small
	// table costs one connection.
	first, err := s.openRawRange(path)
	if err != nil {
		return nil, false
	}
	ranges = append(ranges, first)

	bounds := rowidBounds("main." + quoteIdent(table))
	lo, hi, err := first.begin(bounds)
	if err != nil {
		return fail()
	}

	if parts > 1 && hi-lo >= parallelMinRows {
		ranges, lo, hi = s.splitRawRanges(ctx, path, bounds, ranges, parts, lo, hi)
		if ranges == nil {
			return nil, false
		}
	}

	span := (hi - lo + 1 + int64(len(ranges)) - 1) / int64(len(ranges))
	for i, r := range ranges {
		r.lo = lo + int64(i)*span
		r.hi = min(r.lo+span-1, hi)

		stmt, err := r.c.prepare(query)
		if err != nil {
			return fail()
		}
		r.stmt = stmt

		// The raw statement must yield the columns the shape was made for.
		if int(sqlite3.Xsqlite3_column_count(r.c.tls, stmt)) != ncols {
			return fail()
		}
		sqlite3.Xsqlite3_bind_int64(r.c.tls, stmt, 1, r.lo)
		sqlite3.Xsqlite3_bind_int64(r.c.tls, stmt, 2, r.hi)
	}

	return ranges, true
}

// splitRawRanges adds up to parts-1 ranges to the single open one and
// restarts every snapshot while PocketBase's writer is held, so all
// ranges see one state. Before the writer is held, trouble keeps the
// single range and its bounds; after, it closes every range and returns
// nil.
func (s *Server) splitRawRanges(
	ctx context.Context, path, bounds string, ranges []*rawRange, parts int, lo, hi int64,
) (_ []*rawRange, _, _ int64) {
	single := func() ([]*rawRange, int64, int64) {
		for _, r := range ranges[1:] {
			r.close()
		}
		return ranges[:1], lo, hi
	}

	for len(ranges) < parts {
		r, err := s.openRawRange(path)
		if err != nil {
			break
		}
		ranges = append(ranges, r)
	}
	if len(ranges) < 2 {
		return single()
	}

	release, held := s.holdWriter(ctx)
	if !held {
		return single()
	}
	defer release()

	fail := func() ([]*rawRange, int64, int64) {
		for _, r := range ranges {
			r.close()
		}
		return nil, 0, 0
	}

	// The first snapshot was taken without the hold: take it again.
	if err := ranges[0].c.exec("ROLLBACK"); err != nil {
		return fail()
	}
	var l, h int64
	for _, r := range ranges {
		var err error
		if l, h, err = r.begin(bounds); err != nil {
			return fail()
		}
	}
	return ranges, l, h
}

// openRawRange opens one connection if a slot is free.
func (s *Server) openRawRange(path string) (*rawRange, error) {
	select {
	case s.rawSlots <- struct{}{}:
	default:
		return nil, errors.New("all raw scan connections are in use")
	}

	c, err := openRawConn(path)
	if err != nil {
		<-s.rawSlots
		return nil, err
	}
	return &rawRange{c: c, slots: s.rawSlots}, nil
}

// begin opens a read transaction and returns the table's rowid bounds in
// its snapshot (a deferred BEGIN takes the snapshot at the first read).
func (r *rawRange) begin(bounds string) (lo, hi int64, err error) {
	if err := r.c.exec("BEGIN"); err != nil {
		return 0, 0, err
	}
	b, err := r.c.queryInt64s(bounds, 2)
	if err != nil {
		return 0, 0, err
	}
	return b[0], b[1], nil
}

// mainDBFile is the file of PocketBase's main database, as its own read
// connection reports it; ok is false for an in-memory database.
func (s *Server) mainDBFile(ctx context.Context) (string, bool) {
	var file string
	err := s.app.ConcurrentDB().NewQuery("SELECT file FROM pragma_database_list WHERE name = 'main'").
		WithContext(ctx).Row(&file)
	return file, err == nil && file != ""
}

// holdWriter takes PocketBase's single write connection so that no commit
// can happen until release; held is false when it is busy past
// writerWaitForSplit.
func (s *Server) holdWriter(ctx context.Context) (release func(), held bool) {
	wdb, ok := s.app.NonconcurrentDB().(*dbx.DB)
	if !ok {
		return nil, false
	}

	wctx, cancel := context.WithTimeout(ctx, writerWaitForSplit)
	defer cancel()

	wconn, err := wdb.DB().Conn(wctx)
	if err != nil {
		return nil, false
	}
	return func() { wconn.Close() }, true
}

// rawCheckRows is how many rows pass between checks for cancellation.
const rawCheckRows = 1024

// scan steps the range and sends its batches; bad counts values that
// became null.
func (r *rawRange) scan(
	ctx context.Context, shape resultShape, ch chan<- flight.StreamChunk,
) (bad int, err error) {
	bb := newBatchBuilder(memory.DefaultAllocator, shape)
	defer bb.release()
	defer func() { bad = bb.bad }()

	send := func(rec arrow.RecordBatch) bool { return sendChunk(ctx, ch, flight.StreamChunk{Data: rec}) }
	data := make([]int, len(shape.kinds))

	for n := 0; ; n++ {
		if n%rawCheckRows == 0 && ctx.Err() != nil {
			return 0, ctx.Err()
		}

		switch rc := sqlite3.Xsqlite3_step(r.c.tls, r.stmt); rc {
		case sqlite3.SQLITE_ROW:
		case sqlite3.SQLITE_DONE:
			if bb.rows > 0 {
				send(bb.flush())
			}
			return 0, nil
		default:
			return 0, r.c.errorf("stepping rows %d..%d", r.lo, r.hi)
		}

		appendRawRow(r.c, r.stmt, bb)
		if bb.bytes >= batchTargetBytes || bb.rows >= batchMaxRows {
			rows, data := bb.rows, dataSizes(bb, data)
			if !send(bb.flush()) {
				return 0, nil
			}
			reserveBatch(bb, rows, data)
		}
	}
}

// varBuilder is a builder of variable-length values (utf8, binary).
type varBuilder interface {
	DataLen() int
	ReserveData(int)
}

// dataSizes records into sizes the value bytes each column holds now.
func dataSizes(bb *batchBuilder, sizes []int) []int {
	for i := range sizes {
		sizes[i] = 0
		if v, ok := bb.b.Field(i).(varBuilder); ok {
			sizes[i] = v.DataLen()
		}
	}
	return sizes
}

// reserveBatch sizes the emptied builders like the batch just sent: the
// next batch of a scan is much like the last, and growing every buffer by
// doubling again was a visible share of the scan.
func reserveBatch(bb *batchBuilder, rows int, sizes []int) {
	for i, n := range sizes {
		f := bb.b.Field(i)
		f.Reserve(rows)
		if v, ok := f.(varBuilder); ok {
			v.ReserveData(n)
		}
	}
}
