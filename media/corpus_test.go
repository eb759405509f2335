package media

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
	_ "time/tzdata"
)

// corpusEnv names the folder of real media files with expected.json.
const corpusEnv = "ARROW_MINO_CORPUS"

// corpusDir returns the corpus folder or skips the test.
func corpusDir(t *testing.T) string {
	dir := os.Getenv(corpusEnv)
	if dir == "" {
		t.Skipf("set %s to the corpus folder (with expected.json) to run this test", corpusEnv)
	}
	return dir
}

// probePath probes one file with the default limits.
func probePath(t *testing.T, path string) Metadata {
	t.Helper()
	src, err := OpenFile(path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer src.Close()
	return Probe(context.Background(), src, filepath.Base(path))
}

// fieldTally counts, per expected.json field, how many values matched.
type fieldTally map[string][2]int

func (f fieldTally) add(field string, ok bool) {
	v := f[field]
	v[1]++
	if ok {
		v[0]++
	}
	f[field] = v
}

// TestCorpusExpected checks every value expected.json gives that maps to
// a column, and prints a per-field count of matches.
func TestCorpusExpected(t *testing.T) {
	dir := corpusDir(t)
	raw, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatalf("read expected.json: %v", err)
	}
	var expected struct {
		Files map[string]map[string]any `json:"files"`
	}
	if err := json.Unmarshal(raw, &expected); err != nil {
		t.Fatalf("parse expected.json: %v", err)
	}

	tally := fieldTally{}
	names := make([]string, 0, len(expected.Files))
	for name := range expected.Files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		got := probePath(t, filepath.Join(dir, name))
		for _, problem := range compareExpected(t, name, expected.Files[name], got, tally) {
			t.Errorf("%s: %s", name, problem)
		}
	}

	fields := make([]string, 0, len(tally))
	for field := range tally {
		fields = append(fields, field)
	}
	sort.Strings(fields)
	total := [2]int{}
	for _, field := range fields {
		v := tally[field]
		total[0] += v[0]
		total[1] += v[1]
		t.Logf("%-18s %d/%d", field, v[0], v[1])
	}
	t.Logf("%-18s %d/%d", "all values", total[0], total[1])
}

// compareExpected returns one line per expected value that got misses.
func compareExpected(t *testing.T, name string, want map[string]any, got Metadata, tally fieldTally) []string {
	var problems []string
	check := func(field string, ok bool, wantValue, gotValue any) {
		tally.add(field, ok)
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: want %v, got %v", field, wantValue, gotValue))
		}
	}

	if v, ok := want["detected_type"]; ok {
		check("format", strings.EqualFold(fmt.Sprint(v), got.Format), v, got.Format)
	}
	ints := map[string]int{
		"width": got.Width, "height": got.Height, "orientation": got.Orientation,
		"display_width": got.DisplayWidth, "display_height": got.DisplayHeight,
		"iso": got.ISO, "audio_sample_rate": got.SampleRate, "audio_channels": got.Channels,
	}
	strs := map[string]string{
		"kind": got.Kind, "make": got.Make, "model": got.Model, "lens": got.Lens,
		"taken_at_local": got.TakenAtLocal, "container": got.Container,
		"video_codec": got.VideoCodec, "audio_codec": got.AudioCodec,
		"tag:title": got.Title, "tag:artist": got.Artist, "tag:album": got.Album,
	}
	floats := map[string]float64{
		"exposure_time_s": got.ExposureTime, "f_number": got.FNumber,
		"focal_length_mm": got.FocalLength,
	}

	for field, value := range want {
		switch {
		case ints[field] != 0 || hasKey(ints, field):
			w := 0
			if value != nil {
				w = int(value.(float64))
			}
			check(field, w == ints[field], value, ints[field])
		case hasKey(strs, field):
			w := ""
			if value != nil {
				w = value.(string)
			}
			check(field, w == strs[field], value, strs[field])
		case hasKey(floats, field):
			w := 0.0
			if value != nil {
				w = value.(float64)
			}
			check(field, math.Abs(w-floats[field]) <= 1e-6*math.Max(1, math.Abs(w)), value, floats[field])
		case field == "duration_s":
			check(field, math.Abs(value.(float64)-got.Duration) <= 0.05, value, got.Duration)
		case field == "fps":
			check(field, math.Abs(value.(float64)-got.FrameRate) <= 0.01, value, got.FrameRate)
		case field == "taken_at_offset":
			w, _ := value.(string)
			switch {
			case w == got.TakenAtOffset:
				check(field, true, w, got.TakenAtOffset)
			case w == "" && got.TakenAtOffsetSource == "GPS":
				// exiftool reports no offset where only the GPS clock gives
				// one; deriving it is deliberate, so this counts as a match
				// but is shown.
				check(field, true, w, got.TakenAtOffset)
				t.Logf("note %s: offset %s derived from the GPS clock (exiftool: none)\n", name, got.TakenAtOffset)
			default:
				check(field, false, value, got.TakenAtOffset)
			}
		case field == "taken_at_utc", field == "creation_time_utc":
			gotValue := got.TakenAtUTC
			if field == "creation_time_utc" {
				gotValue = got.CreationTimeUTC
			}
			check(field, sameInstant(value, gotValue), value, gotValue)
		case field == "gps":
			problems = append(problems, compareGPS(value, got, tally)...)
		}
	}
	sort.Strings(problems)
	return problems
}

func hasKey[V any](m map[string]V, key string) bool {
	_, ok := m[key]
	return ok
}

// sameInstant compares two instants to the second; nil matches "".
func sameInstant(want any, got string) bool {
	w, _ := want.(string)
	if w == "" || got == "" {
		return w == got
	}
	wt, err1 := time.Parse(time.RFC3339Nano, w)
	gt, err2 := time.Parse(time.RFC3339Nano, got)
	return err1 == nil && err2 == nil && wt.Truncate(time.Second).Equal(gt.Truncate(time.Second))
}

// compareGPS checks lat, lon and altitude; nil means "no position".
func compareGPS(value any, got Metadata, tally fieldTally) []string {
	var problems []string
	want, _ := value.(map[string]any)
	pairs := []struct {
		field string
		got   *float64
		tol   float64
	}{{"gps_lat", got.GPSLat, 1e-5}, {"gps_lon", got.GPSLon, 1e-5}, {"gps_alt", got.GPSAlt, 1e-3}}
	keys := map[string]string{"gps_lat": "lat", "gps_lon": "lon", "gps_alt": "alt_m"}
	for _, p := range pairs {
		w, _ := want[keys[p.field]].(float64)
		_, present := want[keys[p.field]].(float64)
		ok := (!present && p.got == nil) || (present && p.got != nil && math.Abs(*p.got-w) <= p.tol)
		tally.add(p.field, ok)
		if !ok {
			g := "nil"
			if p.got != nil {
				g = fmt.Sprint(*p.got)
			}
			problems = append(problems, fmt.Sprintf("%s: want %v, got %s", p.field, want[keys[p.field]], g))
		}
	}
	return problems
}

// TestCorpusAllFilesAnyZone probes every corpus file under UTC and two
// zones far from it; the results must be identical, and no probe may
// panic or hang.
func TestCorpusAllFilesAnyZone(t *testing.T) {
	dir := corpusDir(t)
	var paths []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(path, ".json") && !strings.HasSuffix(path, ".md") {
			paths = append(paths, path)
		}
		return nil
	})

	saved := time.Local
	defer func() { time.Local = saved }()

	baseline := map[string]string{}
	for _, zone := range []string{"UTC", "Pacific/Kiritimati", "America/Adak"} {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Fatalf("load zone %s: %v", zone, err)
		}
		time.Local = loc
		for _, path := range paths {
			start := time.Now()
			meta := probePath(t, path)
			if elapsed := time.Since(start); elapsed > DefaultProbeTimeout {
				t.Errorf("%s: probe took %s", path, elapsed)
			}
			out, _ := json.Marshal(meta)
			if zone == "UTC" {
				baseline[path] = string(out)
				continue
			}
			if string(out) != baseline[path] {
				t.Errorf("%s under %s differs:\n  UTC: %s\n  %s: %s", path, zone, baseline[path], zone, out)
			}
		}
	}
	t.Logf("probed %d files under 3 zones", len(paths))
}

// TestCorpusProbeCommand runs the probe command over every corpus file
// with --thumb, so every decoder meets every real file once. Set
// ARROW_MINO_THUMBS to keep the thumbnails for a look.
func TestCorpusProbeCommand(t *testing.T) {
	dir := corpusDir(t)
	var paths []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(path, ".json") && !strings.HasSuffix(path, ".md") {
			paths = append(paths, path)
		}
		return nil
	})

	thumbs := os.Getenv("ARROW_MINO_THUMBS")
	if thumbs == "" {
		thumbs = t.TempDir()
	}
	var out, errOut strings.Builder
	cmd := ProbeCommand()
	cmd.SetArgs(append(paths, "--thumb", thumbs))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("probe command: %v (%s)", err, errOut.String())
	}

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(paths) {
		t.Fatalf("got %d lines for %d files", len(lines), len(paths))
	}
	for _, line := range lines {
		var got probeLine
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("bad line %q: %v", line, err)
		}
		t.Logf("%s", line)
	}
}
