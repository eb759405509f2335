package media

import (
	"bytes"
	"context"
	"image/jpeg"
	"path/filepath"
	"testing"
)

// TestVideoPosterFrame needs ffmpeg on PATH; `make test` installs it.
func TestVideoPosterFrame(t *testing.T) {
	if Tools().FFmpeg == "" {
		t.Fatal("ffmpeg is not on PATH: `make test` installs it (Debian package ffmpeg)")
	}
	src, err := OpenFile(filepath.Join("testdata", "fragmented_empty_moov.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()

	meta := Probe(context.Background(), src, "clip.mp4")
	small, medium, err := Thumbnails(context.Background(), src, meta)
	if err != nil {
		t.Fatalf("poster frame: %v", err)
	}

	for name, data := range map[string][]byte{"small": small, "medium": medium} {
		img, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s thumbnail is not a JPEG: %v", name, err)
		}
		if bounds := img.Bounds(); bounds.Dx() != 64 || bounds.Dy() != 48 {
			t.Errorf("%s thumbnail is %v, want the video's 64x48", name, bounds)
		}
		// lavfi's test source has coloured bars: a blank frame would be
		// one colour.
		first := img.At(2, 2)
		varied := false
		for x := 0; x < 64 && !varied; x += 4 {
			varied = img.At(x, 24) != first
		}
		if !varied {
			t.Errorf("%s thumbnail is a single colour", name)
		}
	}
}
