package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"io"

	"github.com/gen2brain/heic"
	"golang.org/x/image/webp"
)

// decodeHEIF decodes the primary image of a HEIC file. The decoder runs
// as WebAssembly inside the process (pure Go, 1-3 s per photo on 2 cores)
// unless a system libheif is found.
func decodeHEIF(r io.Reader) (image.Image, error) {
	img, err := heic.Decode(r)
	if err != nil {
		return nil, fmt.Errorf("decode HEIF: %w", err)
	}
	return img, nil
}

// decodeAnimatedWebP decodes the first frame of an animated WebP: the
// frame's bitstream is rewrapped as a still WebP that x/image decodes.
func decodeAnimatedWebP(r io.Reader) (image.Image, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxThumbSource))
	if err != nil {
		return nil, fmt.Errorf("read WebP: %w", err)
	}
	if len(data) < 12 || string(data[8:12]) != "WEBP" {
		return nil, errors.New("not a WebP file")
	}

	for p := 12; p+8 <= len(data); {
		kind := string(data[p : p+4])
		length := int(binary.LittleEndian.Uint32(data[p+4:]))
		if length < 0 || length > len(data)-p-8 {
			return nil, errors.New("WebP chunk overruns the file")
		}
		payload := data[p+8 : p+8+length]
		if kind == "ANMF" && length >= 16 {
			still := stillWebP(payload[16:], uint24(payload[6:])+1, uint24(payload[9:])+1)
			return webp.Decode(bytes.NewReader(still))
		}
		p += 8 + length + length&1
	}
	return nil, errors.New("no animation frame in WebP")
}

// stillWebP builds a still WebP from a frame's chunks (ALPH?, VP8/VP8L).
// With an alpha chunk a VP8X header is needed to announce it.
func stillWebP(frame []byte, width, height uint32) []byte {
	var body bytes.Buffer
	body.WriteString("WEBP")
	if bytes.Contains(frame[:min(len(frame), 8)], []byte("ALPH")) {
		vp8x := make([]byte, 18)
		copy(vp8x, "VP8X")
		binary.LittleEndian.PutUint32(vp8x[4:], 10)
		vp8x[8] = 0x10
		putUint24(vp8x[12:], width-1)
		putUint24(vp8x[15:], height-1)
		body.Write(vp8x)
	}
	body.Write(frame)

	out := make([]byte, 8, 8+body.Len())
	copy(out, "RIFF")
	binary.LittleEndian.PutUint32(out[4:], uint32(body.Len()))
	return append(out, body.Bytes()...)
}

func putUint24(b []byte, v uint32) {
	b[0], b[1], b[2] = byte(v), byte(v>>8), byte(v>>16)
}
