package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// probeGIF reads the logical screen size.
func probeGIF(r *reader, m *Metadata) error {
	header, err := r.bytesAt(0, 10)
	if err != nil {
		return fmt.Errorf("read screen descriptor: %w", err)
	}
	m.Width = int(binary.LittleEndian.Uint16(header[6:]))
	m.Height = int(binary.LittleEndian.Uint16(header[8:]))
	return nil
}

// maxWebPChunks bounds the RIFF chunk walk.
const maxWebPChunks = 10000

// probeWebP reads the canvas size (VP8X) or the bitstream size (VP8, VP8L),
// and the EXIF and XMP chunks.
func probeWebP(r *reader, m *Metadata) error {
	var errs []error
	off := int64(12)
	for i := 0; i < maxWebPChunks && off+8 <= r.size; i++ {
		header, err := r.bytesAt(off, 8)
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("read chunk at %d: %w", off, err))...)
		}
		kind := string(header[:4])
		length := int64(binary.LittleEndian.Uint32(header[4:]))
		data := off + 8
		off = data + length + length&1

		var payload []byte
		switch kind {
		case "VP8X", "VP8 ", "VP8L":
			payload, err = r.bytesAt(data, min(length, 30))
		case "EXIF", "XMP ":
			if length <= maxTextChunk {
				payload, err = r.bytesAt(data, length)
			}
		default:
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("read %s chunk: %w", kind, err))
			continue
		}

		switch kind {
		case "VP8X":
			if len(payload) >= 10 {
				m.Width = int(uint24(payload[4:])) + 1
				m.Height = int(uint24(payload[7:])) + 1
			}
		case "VP8 ":
			// frame tag (3 bytes), start code 9d 01 2a, then 14-bit sizes.
			if m.Width == 0 && len(payload) >= 10 && bytes.Equal(payload[3:6], []byte{0x9d, 0x01, 0x2a}) {
				m.Width = int(binary.LittleEndian.Uint16(payload[6:]) & 0x3fff)
				m.Height = int(binary.LittleEndian.Uint16(payload[8:]) & 0x3fff)
			}
		case "VP8L":
			if m.Width == 0 && len(payload) >= 5 && payload[0] == 0x2f {
				bits := binary.LittleEndian.Uint32(payload[1:])
				m.Width = int(bits&0x3fff) + 1
				m.Height = int((bits>>14)&0x3fff) + 1
			}
		case "EXIF":
			if err := readEXIFBlock(bytes.TrimPrefix(payload, exifHeader), m); err != nil {
				errs = append(errs, err)
			}
		case "XMP ":
			applyXMP(payload, m)
		}
	}
	return errors.Join(errs...)
}

func uint24(b []byte) uint32 { return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 }

// probeTIFFFile reads a TIFF file's first directory: there the size tags
// are the image header itself, not a copy that may be stale.
func probeTIFFFile(r *reader, m *Metadata) error {
	tags, err := parseTIFF(r, r.size)
	if tags != nil {
		if w, ok := tags.uint(tags.ifd0, tagImageWidth); ok {
			m.Width = int(w)
		}
		if h, ok := tags.uint(tags.ifd0, tagImageLength); ok {
			m.Height = int(h)
		}
		applyEXIF(tags, m)
		if xmp := tags.str(tags.ifd0, tagXMP); xmp != "" {
			applyXMP([]byte(xmp), m)
		}
	}
	if err != nil {
		return fmt.Errorf("TIFF directories: %w", err)
	}
	return nil
}
