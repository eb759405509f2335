package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

const (
	// blockSize is the unit of every read from the source. Parsers ask
	// for a few bytes at a time; reading whole blocks turns a JPEG
	// segment walk into one or two range requests instead of dozens.
	blockSize = 64 << 10

	// maxCachedBlocks bounds the block cache (4 MiB).
	maxCachedBlocks = 64
)

// errBudget says a parser wanted more bytes than the read budget allows.
var errBudget = errors.New("read budget exhausted")

// Source is what Probe reads from: random access plus a known size, so
// that metadata comes from range reads and never from a whole download.
type Source interface {
	io.ReaderAt
	Size() int64
}

// FileSource is a Source over an open local file.
type FileSource struct {
	file *os.File
	size int64
}

// OpenFile opens path as a Source; Close releases it.
func OpenFile(path string) (*FileSource, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}

	info, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	return &FileSource{file: file, size: info.Size()}, nil
}

// ReadAt reads from the file at off.
func (f *FileSource) ReadAt(p []byte, off int64) (int, error) { return f.file.ReadAt(p, off) }

// Size is the file's size when it was opened.
func (f *FileSource) Size() int64 { return f.size }

// Close closes the file.
func (f *FileSource) Close() error { return f.file.Close() }

// BytesSource is a Source over bytes already in memory.
type BytesSource []byte

// ReadAt copies from the bytes at off.
func (b BytesSource) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Size is the number of bytes.
func (b BytesSource) Size() int64 { return int64(len(b)) }

// reader wraps a Source with the probe's limits: it stops when the context
// ends or when the read budget is spent, and it caches whole blocks.
type reader struct {
	ctx    context.Context
	src    Source
	size   int64
	budget int64
	read   int64
	blocks map[int64][]byte
}

func newReader(ctx context.Context, src Source, budget int64) *reader {
	return &reader{ctx: ctx, src: src, size: src.Size(), budget: budget, blocks: map[int64][]byte{}}
}

// ReadAt serves p from cached blocks, fetching the missing ones.
func (r *reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read at negative offset %d", off)
	}
	if off >= r.size {
		return 0, io.EOF
	}

	n := 0
	for n < len(p) && off+int64(n) < r.size {
		pos := off + int64(n)
		block, err := r.block(pos / blockSize)
		if err != nil {
			return n, err
		}
		within := pos % blockSize
		if within >= int64(len(block)) {
			return n, io.ErrUnexpectedEOF
		}
		n += copy(p[n:], block[within:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// block returns block index i, reading it when it is not cached.
func (r *reader) block(i int64) ([]byte, error) {
	if b, ok := r.blocks[i]; ok {
		return b, nil
	}
	if err := r.ctx.Err(); err != nil {
		return nil, fmt.Errorf("read stopped: %w", err)
	}

	start := i * blockSize
	length := min(int64(blockSize), r.size-start)
	if r.read+length > r.budget {
		return nil, fmt.Errorf("read %d bytes at %d: %w (%d bytes)", length, start, errBudget, r.budget)
	}
	r.read += length

	buf := make([]byte, length)
	n, err := r.src.ReadAt(buf, start)
	if n < len(buf) {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read %d bytes at %d: %w", length, start, err)
	}

	// A plain reset keeps the cache bounded; parsers read mostly forward,
	// so losing old blocks costs little.
	if len(r.blocks) >= maxCachedBlocks {
		clear(r.blocks)
	}
	r.blocks[i] = buf
	return buf, nil
}

// bytesAt reads exactly n bytes at off; fewer is an error.
func (r *reader) bytesAt(off int64, n int64) ([]byte, error) {
	if n < 0 || off < 0 || off+n > r.size {
		return nil, fmt.Errorf("read %d bytes at %d of %d: %w", n, off, r.size, io.ErrUnexpectedEOF)
	}
	// Refuse before allocating: a corrupt length field must not turn
	// into a huge allocation.
	if n > r.budget {
		return nil, fmt.Errorf("read %d bytes at %d: %w", n, off, errBudget)
	}

	buf := make([]byte, n)
	if _, err := r.ReadAt(buf, off); err != nil {
		return nil, err
	}
	return buf, nil
}
