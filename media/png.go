package media

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

const (
	// maxPNGChunks bounds the chunk walk.
	maxPNGChunks = 10000

	// maxTextChunk bounds a text chunk read or inflated for metadata.
	maxTextChunk = 1 << 20
)

// probePNG reads IHDR for the size and the chunks that may carry EXIF:
// eXIf, and ImageMagick's "Raw profile type exif" text chunks.
func probePNG(r *reader, m *Metadata) error {
	var errs []error
	off := int64(8)
	for i := 0; i < maxPNGChunks && off+8 <= r.size; i++ {
		header, err := r.bytesAt(off, 8)
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("read chunk at %d: %w", off, err))...)
		}
		length := int64(binary.BigEndian.Uint32(header))
		kind := string(header[4:8])
		data := off + 8
		off = data + length + 4

		switch kind {
		case "IEND":
			return errors.Join(errs...)
		case "IHDR", "eXIf", "zTXt", "tEXt", "iTXt":
			if length > maxTextChunk {
				continue
			}
			payload, err := r.bytesAt(data, length)
			if err != nil {
				errs = append(errs, fmt.Errorf("read %s chunk: %w", kind, err))
				continue
			}
			if err := pngChunk(kind, payload, m); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// pngChunk applies one metadata chunk.
func pngChunk(kind string, payload []byte, m *Metadata) error {
	switch kind {
	case "IHDR":
		if len(payload) >= 8 {
			m.Width = int(binary.BigEndian.Uint32(payload))
			m.Height = int(binary.BigEndian.Uint32(payload[4:]))
		}
	case "eXIf":
		return readEXIFBlock(bytes.TrimPrefix(payload, exifHeader), m)
	case "zTXt", "tEXt", "iTXt":
		keyword, text, err := pngText(kind, payload)
		if err != nil {
			return fmt.Errorf("read %s chunk: %w", kind, err)
		}
		switch keyword {
		case "Raw profile type exif", "Raw profile type APP1":
			block, err := rawProfile(text)
			if err != nil {
				return fmt.Errorf("decode %s: %w", keyword, err)
			}
			return readEXIFBlock(bytes.TrimPrefix(block, exifHeader), m)
		case "XML:com.adobe.xmp":
			applyXMP(text, m)
		}
	}
	return nil
}

// pngText returns a text chunk's keyword and (inflated) text.
func pngText(kind string, payload []byte) (string, []byte, error) {
	keyword, rest, ok := bytes.Cut(payload, []byte{0})
	if !ok {
		return "", nil, errors.New("no keyword terminator")
	}

	compressed := false
	switch kind {
	case "zTXt":
		if len(rest) < 1 {
			return "", nil, errors.New("no compression method")
		}
		rest, compressed = rest[1:], true
	case "iTXt":
		// flag, method, language\0, translated keyword\0, text
		if len(rest) < 2 {
			return "", nil, errors.New("short iTXt")
		}
		compressed = rest[0] == 1
		rest = rest[2:]
		for range 2 {
			_, after, ok := bytes.Cut(rest, []byte{0})
			if !ok {
				return "", nil, errors.New("short iTXt")
			}
			rest = after
		}
	}
	if !compressed {
		return string(keyword), rest, nil
	}

	zr, err := zlib.NewReader(bytes.NewReader(rest))
	if err != nil {
		return "", nil, fmt.Errorf("inflate: %w", err)
	}
	text, err := io.ReadAll(io.LimitReader(zr, maxTextChunk))
	if err != nil {
		return "", nil, fmt.Errorf("inflate: %w", err)
	}
	return string(keyword), text, nil
}

// rawProfile decodes ImageMagick's "\nexif\n   LENGTH\nHEX..." layout.
func rawProfile(text []byte) ([]byte, error) {
	fields := bytes.Fields(text)
	if len(fields) < 3 {
		return nil, errors.New("too few fields")
	}
	digits := bytes.Join(fields[2:], nil)
	block := make([]byte, hex.DecodedLen(len(digits)))
	n, err := hex.Decode(block, digits)
	if err != nil {
		return nil, fmt.Errorf("hex: %w", err)
	}
	return block[:n], nil
}
