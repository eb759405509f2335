package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"runtime/debug"
	"time"

	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"
)

const (
	// SmallThumbSize and MediumThumbSize are the longest side in pixels.
	SmallThumbSize  = 256
	MediumThumbSize = 1024

	// DefaultThumbTimeout bounds decoding and scaling one image.
	DefaultThumbTimeout = 30 * time.Second

	// maxThumbSource bounds the bytes read to decode an image.
	maxThumbSource = 64 << 20

	// maxThumbPixels refuses images whose decoded size would exhaust
	// memory (a 100-megapixel RGBA image is 400 MB).
	maxThumbPixels = 100_000_000

	thumbQuality = 82
)

// ErrNoThumbnail says no decoder is available for the content.
var ErrNoThumbnail = errors.New("no thumbnail decoder for this format")

// Thumbnails decodes src and returns small and medium JPEG thumbnails,
// turned upright per meta's orientation. Images are decoded in full (a
// thumbnail needs the pixels); videos need ffmpeg (see Tools).
func Thumbnails(ctx context.Context, src Source, meta Metadata) (small, medium []byte, err error) {
	ctx, cancel := context.WithTimeout(ctx, DefaultThumbTimeout)
	defer cancel()

	decoded := make(chan thumbResult, 1)
	go func() {
		// Decoders are not interruptible; this goroutine is abandoned on
		// timeout and its result dropped.
		defer func() {
			if v := recover(); v != nil {
				decoded <- thumbResult{err: fmt.Errorf("thumbnail panic: %v (%s)", v, firstFrames(debug.Stack()))}
			}
		}()
		s, m, err := makeThumbnails(ctx, src, meta)
		decoded <- thumbResult{s, m, err}
	}()

	select {
	case res := <-decoded:
		return res.small, res.medium, res.err
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("make thumbnails: %w", ctx.Err())
	}
}

type thumbResult struct {
	small, medium []byte
	err           error
}

// makeThumbnails decodes, orients, scales twice and encodes.
func makeThumbnails(ctx context.Context, src Source, meta Metadata) ([]byte, []byte, error) {
	var img image.Image
	var err error
	switch meta.Kind {
	case KindImage:
		img, err = decodeImage(src, meta)
	case KindVideo:
		img, err = posterFrame(ctx, src)
	default:
		return nil, nil, ErrNoThumbnail
	}
	if err != nil {
		return nil, nil, err
	}

	// Orientation is applied after scaling, on far fewer pixels. HEIF
	// decoders apply irot themselves, and EXIF Orientation there repeats
	// it, so it is applied only to the other formats.
	medium := scaleDown(img, MediumThumbSize)
	if meta.Kind == KindImage && meta.Format != "heic" && meta.Format != "avif" {
		medium = orient(medium, meta.Orientation)
	}
	small := scaleDown(medium, SmallThumbSize)
	smallJPEG, err := encodeJPEG(small)
	if err != nil {
		return nil, nil, err
	}
	mediumJPEG, err := encodeJPEG(medium)
	if err != nil {
		return nil, nil, err
	}
	return smallJPEG, mediumJPEG, nil
}

// decodeImage picks the decoder by the probed format, after checking the
// header size so a pixel bomb is refused before allocation.
func decodeImage(src Source, meta Metadata) (image.Image, error) {
	if src.Size() > maxThumbSource {
		return nil, fmt.Errorf("decode image: %d bytes is over the %d-byte limit", src.Size(), maxThumbSource)
	}
	if int64(meta.Width)*int64(meta.Height) > maxThumbPixels {
		return nil, fmt.Errorf("decode image: %dx%d is over the %d-pixel limit",
			meta.Width, meta.Height, maxThumbPixels)
	}
	// One read for the whole object: decoders read in small pieces, and
	// each piece would be a range request on a remote source.
	data := make([]byte, src.Size())
	if n, err := src.ReadAt(data, 0); n < len(data) {
		return nil, fmt.Errorf("read image: %w", errOr(err, io.ErrUnexpectedEOF))
	}
	r := bytes.NewReader(data)

	var img image.Image
	var err error
	switch meta.Format {
	case "jpeg":
		img, err = jpeg.Decode(r)
	case "png":
		img, err = png.Decode(r)
	case "gif":
		// The first frame; animated GIFs show it as their poster.
		img, err = gif.Decode(r)
	case "webp":
		img, err = decodeWebP(r)
	case "tiff":
		img, err = tiff.Decode(r)
	case "heic", "avif":
		img, err = decodeHEIF(r)
	default:
		return nil, ErrNoThumbnail
	}
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", meta.Format, err)
	}
	return img, nil
}

// decodeWebP decodes still WebP; animated files need decodeAnimatedWebP.
func decodeWebP(r io.ReadSeeker) (image.Image, error) {
	img, err := webp.Decode(r)
	if err == nil {
		return img, nil
	}
	if _, serr := r.Seek(0, io.SeekStart); serr != nil {
		return nil, err
	}
	if animated, aerr := decodeAnimatedWebP(r); aerr == nil {
		return animated, nil
	}
	return nil, err
}

// scaleDown fits img within size x size, keeping its aspect; smaller
// images are copied unchanged.
func scaleDown(img image.Image, size int) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= size && h <= size {
		return img
	}
	if w >= h {
		w, h = size, max(1, h*size/w)
	} else {
		w, h = max(1, w*size/h), size
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	xdraw.ApproxBiLinear.Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
	return dst
}

// encodeJPEG writes img as JPEG, flattening transparency onto white.
func encodeJPEG(img image.Image) ([]byte, error) {
	flat := image.NewRGBA(img.Bounds())
	draw.Draw(flat, flat.Bounds(), image.White, image.Point{}, draw.Src)
	draw.Draw(flat, flat.Bounds(), img, img.Bounds().Min, draw.Over)

	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, flat, &jpeg.Options{Quality: thumbQuality}); err != nil {
		return nil, fmt.Errorf("encode thumbnail: %w", err)
	}
	return buf.Bytes(), nil
}
