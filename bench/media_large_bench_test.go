//go:build linux

package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/arrow-mino/arrow-mino/internal/teststack"
	"github.com/arrow-mino/arrow-mino/media"
)

// largeVideoBytes is the size of the synthetic video: bigger than any
// buffer could hide, small enough to upload in seconds on loopback.
const largeVideoBytes = 3 << 30

// BenchmarkMediaLargeVideoInMinIO probes a 3 GiB MP4 whose index sits at
// the end, stored in a real MinIO, through range reads, and compares it
// with downloading the object once (the baseline of the same run): the
// bytes read and the Go heap must stay small whatever the file's size.
func BenchmarkMediaLargeVideoInMinIO(b *testing.B) {
	s := teststack.StartQuiet(b, "demo")
	ctx := context.Background()

	// A bucket that is not watched, so only this benchmark reads it.
	if err := s.S3.MakeBucket(ctx, "large", minio.MakeBucketOptions{}); err != nil {
		b.Fatal(err)
	}
	video, err := moovAtEndVideo(largeVideoBytes)
	if err != nil {
		b.Fatal(err)
	}
	started := time.Now()
	if _, err := s.S3.PutObject(ctx, "large", "huge.mp4", video, largeVideoBytes, minio.PutObjectOptions{}); err != nil {
		b.Fatalf("upload: %v", err)
	}
	upload := time.Since(started)

	for range b.N {
		// Baseline: one full download, the cost a naive extractor pays.
		started = time.Now()
		object, err := s.S3.GetObject(ctx, "large", "huge.mp4", minio.GetObjectOptions{})
		if err != nil {
			b.Fatal(err)
		}
		downloaded, err := io.Copy(io.Discard, object)
		object.Close()
		if err != nil {
			b.Fatal(err)
		}
		download := time.Since(started)

		// Probe through range reads.
		object, err = s.S3.GetObject(ctx, "large", "huge.mp4", minio.GetObjectOptions{})
		if err != nil {
			b.Fatal(err)
		}
		source := &countingSource{object: object, size: largeVideoBytes}
		runtime.GC()
		stopHeap := peakHeap(2 * time.Millisecond)
		started = time.Now()
		meta := media.Probe(ctx, source, "huge.mp4")
		probe := time.Since(started)
		peak := stopHeap()
		object.Close()

		if meta.VideoCodec != "hevc" || meta.Duration < 1.1 || meta.Duration > 1.15 {
			b.Fatalf("probe of the large video: %+v", meta)
		}

		b.ReportMetric(float64(source.read.Load()), "bytes-read")
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(download.Seconds()/probe.Seconds(), "x-faster-than-download")
		fmt.Printf("\nmedia, a %.1f GiB MP4 with moov at the end, in MinIO (uploaded in %.1f s):\n",
			float64(largeVideoBytes)/(1<<30), upload.Seconds())
		fmt.Printf("  full download (baseline): %d bytes in %.2f s\n", downloaded, download.Seconds())
		fmt.Printf("  media.Probe by range reads: %d bytes in %d reads, %.1f ms, peak Go heap %.1f MiB\n",
			source.read.Load(), source.reads.Load(), float64(probe.Microseconds())/1000, float64(peak)/(1<<20))
		fmt.Printf("  probe reads %.6f%% of the object and is %.0fx faster than downloading it\n\n",
			100*float64(source.read.Load())/float64(largeVideoBytes), download.Seconds()/probe.Seconds())
	}
}

// countingSource is a media.Source over a MinIO object that counts what
// the probe asked for.
type countingSource struct {
	object *minio.Object
	size   int64
	read   atomic.Int64
	reads  atomic.Int64
}

func (c *countingSource) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.object.ReadAt(p, off)
	c.read.Add(int64(n))
	c.reads.Add(1)
	return n, err
}

func (c *countingSource) Size() int64 { return c.size }

// moovAtEndVideo streams an MP4 of total bytes: the ftyp and moov of a
// real HEVC clip around an mdat of zeros, with moov last, as cameras and
// ffmpeg without faststart write it.
func moovAtEndVideo(total int64) (io.Reader, error) {
	clip, err := os.ReadFile(filepath.Join("..", "media", "testdata", "hevc.mp4"))
	if err != nil {
		return nil, err
	}
	ftyp, moov, err := ftypAndMoov(clip)
	if err != nil {
		return nil, err
	}

	zeros := total - int64(len(ftyp)) - 16 - int64(len(moov))
	header := make([]byte, 16)
	binary.BigEndian.PutUint32(header[0:], 1) // 64-bit size follows
	copy(header[4:], "mdat")
	binary.BigEndian.PutUint64(header[8:], uint64(16+zeros))

	return io.MultiReader(bytes.NewReader(ftyp), bytes.NewReader(header),
		io.LimitReader(zeroReader{}, zeros), bytes.NewReader(moov)), nil
}

// ftypAndMoov returns the two whole top-level boxes of an MP4 file.
func ftypAndMoov(file []byte) (ftyp, moov []byte, err error) {
	for off := 0; off+8 <= len(file); {
		size := int(binary.BigEndian.Uint32(file[off:]))
		if size < 8 || off+size > len(file) {
			return nil, nil, fmt.Errorf("box at %d has size %d", off, size)
		}
		switch string(file[off+4 : off+8]) {
		case "ftyp":
			ftyp = file[off : off+size]
		case "moov":
			moov = file[off : off+size]
		}
		off += size
	}
	if ftyp == nil || moov == nil {
		return nil, nil, fmt.Errorf("no ftyp or moov")
	}
	return ftyp, moov, nil
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
