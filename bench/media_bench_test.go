//go:build linux

// The media benchmark compares media.Probe with exiftool on the corpus.
// Run: go test -run '^$' -bench Media -benchtime 1x ./bench/

package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

	// Both tools read the files from the page cache: one read of each
	// first, so neither pays for the disk.
	for _, file := range files {
		if _, err := os.ReadFile(file); err != nil {
			b.Fatal(err)
		}
	}

	probeAll := func() {
		for _, file := range files {
			src, err := media.OpenFile(file)
			if err != nil {
				b.Fatal(err)
			}
			media.Probe(context.Background(), src, filepath.Base(file))
			src.Close()
		}
	}

	for range b.N {
		// Speed: the median of five passes, without the heap sampler
		// (it stops the world every 2 ms); memory: one sampled pass.
		var passes []time.Duration
		for range 5 {
			started := time.Now()
			probeAll()
			passes = append(passes, time.Since(started))
		}
		slices.Sort(passes)
		ours := passes[len(passes)/2]

		runtime.GC()
		stop := peakHeap(2 * time.Millisecond)
		probeAll()
		peak := stop()
		oursRate := float64(len(files)) / ours.Seconds()
		b.ReportMetric(oursRate, "probe_files/s")
		b.ReportMetric(float64(peak)/(1<<20), "probe_peak_heap_MB")

		if lookErr != nil {
			b.Logf("exiftool not found (%v): install libimage-exiftool-perl for the comparison", lookErr)
			continue
		}

		started := time.Now()
		cmd := exec.Command(exiftool, append([]string{"-json", "-n", "-q", "-q"}, files...)...)
		cmd.Stdout = nil
		if err := cmd.Start(); err != nil {
			b.Fatalf("start exiftool: %v", err)
		}
		stopRSS := peakRSS(cmd.Process.Pid)
		_ = cmd.Wait() // exiftool exits 1 when a file (the empty one) has no metadata
		batch := time.Since(started)
		exiftoolRSS := stopRSS()
		batchRate := float64(len(files)) / batch.Seconds()
		b.ReportMetric(batchRate, "exiftool_batch_files/s")
		b.ReportMetric(exiftoolRSS, "exiftool_peak_rss_MB")
		b.ReportMetric(oursRate/batchRate, "ratio_vs_batch")

		started = time.Now()
		for _, file := range files {
			_ = exec.Command(exiftool, "-json", "-n", "-q", "-q", file).Run()
		}
		perFile := time.Since(started)
		perFileRate := float64(len(files)) / perFile.Seconds()
		b.ReportMetric(perFileRate, "exiftool_per_file_files/s")
		b.ReportMetric(oursRate/perFileRate, "ratio_vs_per_file")

		b.Logf("%d files: probe %s, median of 5 (%.0f files/s, peak heap %.1f MB); exiftool batch %s (%.0f files/s, peak RSS %.1f MB); exiftool per file %s; ratio %.1fx batch, %.1fx per file",
			len(files), ours.Round(time.Microsecond), oursRate, float64(peak)/(1<<20),
			batch.Round(time.Millisecond), batchRate, exiftoolRSS,
			perFile.Round(time.Millisecond), oursRate/batchRate, oursRate/perFileRate)
	}
}

// peakRSS polls a running process's peak resident size (VmHWM) until the
// returned function is called, which returns it in MB. The kernel's
// rusage of a child cannot serve: a process started from this large test
// binary inherits the binary's high-water mark.
func peakRSS(pid int) (stop func() float64) {
	var peakKiB atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		path := fmt.Sprintf("/proc/%d/status", pid)
		for {
			if data, err := os.ReadFile(path); err == nil {
				for _, line := range strings.Split(string(data), "\n") {
					if value, ok := strings.CutPrefix(line, "VmHWM:"); ok {
						kib, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(value), "kB")), 10, 64)
						peakKiB.Store(max(peakKiB.Load(), kib))
					}
				}
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
	return func() float64 {
		close(done)
		wg.Wait()
		return float64(peakKiB.Load()) / 1024
	}
}
