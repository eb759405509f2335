//go:build linux

// The media benchmark compares media.Probe with exiftool on the corpus.
// Run: go test -run '^$' -bench Media -benchtime 1x ./bench/

package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arrow-mino/arrow-mino/media"
)

// corpusFiles lists the media files of ARROW_MINO_CORPUS, by default
// ../shared/corpus next to the repository root.
func corpusFiles(b *testing.B) []string {
	dir := os.Getenv("ARROW_MINO_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared", "corpus")
	}
	var files []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !strings.HasSuffix(path, ".json") && !strings.HasSuffix(path, ".md") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil || len(files) == 0 {
		b.Skipf("no corpus at %s (set ARROW_MINO_CORPUS): %v", dir, err)
	}
	return files
}

// BenchmarkMediaProbeVsExiftool probes every corpus file with media.Probe
// and with exiftool (one process for all files, and one process per
// file), and reports files per second, peak memory and the speed ratio.
func BenchmarkMediaProbeVsExiftool(b *testing.B) {
	files := corpusFiles(b)
	exiftool, lookErr := exec.LookPath("exiftool")

	for range b.N {
		runtime.GC()
		stop := peakHeap(2 * time.Millisecond)
		started := time.Now()
		for _, file := range files {
			src, err := media.OpenFile(file)
			if err != nil {
				b.Fatal(err)
			}
			media.Probe(context.Background(), src, filepath.Base(file))
			src.Close()
		}
		ours := time.Since(started)
		peak := stop()
		oursRate := float64(len(files)) / ours.Seconds()
		b.ReportMetric(oursRate, "probe_files/s")
		b.ReportMetric(float64(peak)/(1<<20), "probe_peak_heap_MB")

		if lookErr != nil {
			b.Logf("exiftool not found (%v): install libimage-exiftool-perl for the comparison", lookErr)
			continue
		}

		started = time.Now()
		cmd := exec.Command(exiftool, append([]string{"-json", "-n", "-q", "-q"}, files...)...)
		cmd.Stdout = nil
		_ = cmd.Run() // exiftool exits 1 when a file (the empty one) has no metadata
		batch := time.Since(started)
		batchRate := float64(len(files)) / batch.Seconds()
		b.ReportMetric(batchRate, "exiftool_batch_files/s")
		b.ReportMetric(maxRSSMB(cmd.ProcessState), "exiftool_peak_rss_MB")
		b.ReportMetric(oursRate/batchRate, "ratio_vs_batch")

		started = time.Now()
		for _, file := range files {
			_ = exec.Command(exiftool, "-json", "-n", "-q", "-q", file).Run()
		}
		perFile := time.Since(started)
		perFileRate := float64(len(files)) / perFile.Seconds()
		b.ReportMetric(perFileRate, "exiftool_per_file_files/s")
		b.ReportMetric(oursRate/perFileRate, "ratio_vs_per_file")

		b.Logf("%d files: probe %s (%.0f files/s, peak heap %.1f MB); exiftool batch %s (%.0f files/s, peak RSS %.1f MB); exiftool per file %s; ratio %.1fx batch, %.1fx per file",
			len(files), ours.Round(time.Microsecond), oursRate, float64(peak)/(1<<20),
			batch.Round(time.Millisecond), batchRate, maxRSSMB(cmd.ProcessState),
			perFile.Round(time.Millisecond), oursRate/batchRate, oursRate/perFileRate)
	}
}

// maxRSSMB is a finished process's peak resident size (Linux reports KiB).
func maxRSSMB(state *os.ProcessState) float64 {
	if state == nil {
		return 0
	}
	usage, ok := state.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0
	}
	return float64(usage.Maxrss) / 1024
}
