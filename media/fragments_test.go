package media

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"
)

func TestFragmentedMP4Duration(t *testing.T) {
	scenarios := []struct {
		file     string
		duration float64 // ffprobe format.duration
		audio    string
	}{
		{"fragmented_dash.mp4", 3.0, ""},
		{"fragmented_empty_moov.mp4", 2.628027, "aac"},
	}
	for _, s := range scenarios {
		t.Run(s.file, func(t *testing.T) {
			src, err := OpenFile(filepath.Join("testdata", s.file))
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()

			meta := Probe(context.Background(), src, s.file)
			if math.Abs(meta.Duration-s.duration) > 0.05 {
				t.Errorf("duration %v, want %v (error %q)", meta.Duration, s.duration, meta.ExtractError)
			}
			if meta.ExtractError != "" {
				t.Errorf("extract error %q", meta.ExtractError)
			}
			if meta.VideoCodec != "h264" || meta.AudioCodec != s.audio || meta.Width != 64 || meta.Height != 48 {
				t.Errorf("streams %q %q %dx%d", meta.VideoCodec, meta.AudioCodec, meta.Width, meta.Height)
			}
		})
	}
}

func TestTruncatedFragmentedMP4KeepsWhatItRead(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "fragmented_dash.mp4"))
	if err != nil {
		t.Fatal(err)
	}

	for _, cut := range []int{len(data) / 3, len(data) / 2, len(data) - 7} {
		meta := Probe(context.Background(), BytesSource(data[:cut]), "cut.mp4")
		if meta.ExtractError == "" {
			t.Errorf("cut at %d: no extract error", cut)
		}
		if meta.VideoCodec != "h264" {
			t.Errorf("cut at %d: lost the codec from moov: %+v", cut, meta)
		}
		if meta.Duration < 0 || meta.Duration > 3.05 {
			t.Errorf("cut at %d: duration %v out of range", cut, meta.Duration)
		}
	}
}
