package media

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"testing"
)

func fmtAny(v any) string { return fmt.Sprintf("%v", v) }

func TestThumbnails(t *testing.T) {
	scenarios := []struct {
		file       string
		wantMedium image.Point
	}{
		// Stored 450x600 with Orientation 6: shown 600x450.
		{"orientation_landscape_6.jpg", image.Pt(600, 450)},
		{"lossy_simple.webp", image.Pt(1024, 640)},
		{"animated.webp", image.Pt(500, 360)},
		{"canon_ztxt_metadata.png", image.Pt(1024, 1024)},
		{"one_pixel.gif", image.Pt(1, 1)},
	}
	for _, s := range scenarios {
		t.Run(s.file, func(t *testing.T) {
			src, err := OpenFile("testdata/" + s.file)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			meta := Probe(context.Background(), src, s.file)
			small, medium, err := Thumbnails(context.Background(), src, meta)
			if err != nil {
				t.Fatalf("thumbnails: %v", err)
			}
			mediumConfig, err := jpeg.DecodeConfig(bytes.NewReader(medium))
			if err != nil {
				t.Fatalf("medium is not JPEG: %v", err)
			}
			if got := image.Pt(mediumConfig.Width, mediumConfig.Height); got != s.wantMedium {
				t.Errorf("medium %v, want %v", got, s.wantMedium)
			}
			smallConfig, err := jpeg.DecodeConfig(bytes.NewReader(small))
			if err != nil {
				t.Fatalf("small is not JPEG: %v", err)
			}
			if max(smallConfig.Width, smallConfig.Height) > SmallThumbSize {
				t.Errorf("small is %dx%d", smallConfig.Width, smallConfig.Height)
			}
		})
	}
}

func TestThumbnailsNoDecoder(t *testing.T) {
	_, _, err := Thumbnails(context.Background(), BytesSource("x"), Metadata{Kind: KindAudio})
	if err == nil {
		t.Fatal("want an error for audio")
	}
}

// TestOrient marks the stored top-left pixel and checks where each
// orientation puts it on display.
func TestOrient(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 3, 2))
	src.Set(0, 0, color.RGBA{255, 0, 0, 255})
	want := map[int]image.Point{
		1: {0, 0}, 2: {2, 0}, 3: {2, 1}, 4: {0, 1},
		5: {0, 0}, 6: {1, 0}, 7: {1, 2}, 8: {0, 2},
	}
	for o, at := range want {
		out := orient(src, o)
		r, _, _, _ := out.At(at.X, at.Y).RGBA()
		if r>>8 != 255 {
			t.Errorf("orientation %d: marked pixel not at %v", o, at)
		}
	}
}
