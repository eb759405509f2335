package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// maxJPEGSegments bounds the marker walk; real files have a few dozen.
const maxJPEGSegments = 1000

var (
	exifHeader = []byte("Exif\x00\x00")
	xmpHeader  = []byte("http://ns.adobe.com/xap/1.0/\x00")
	psHeader   = []byte("Photoshop 3.0\x00")
)

// probeJPEG walks the marker segments up to the first scan: the frame
// header gives the size, APP1 holds EXIF and XMP, APP13 holds IPTC.
func probeJPEG(r *reader, m *Metadata) error {
	var errs []error
	off := int64(2)
	for i := 0; i < maxJPEGSegments; i++ {
		marker, err := r.bytesAt(off, 4)
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("read segment at %d: %w", off, err))...)
		}
		if marker[0] != 0xFF {
			return errors.Join(append(errs, fmt.Errorf("no marker at %d", off))...)
		}

		code := marker[1]
		switch {
		case code == 0xFF:
			// Fill bytes may pad markers.
			off++
			continue
		case code == 0xD8 || code == 0x01 || (code >= 0xD0 && code <= 0xD7):
			off += 2
			continue
		case code == 0xD9 || code == 0xDA:
			return errors.Join(errs...)
		}

		length := int64(binary.BigEndian.Uint16(marker[2:]))
		if length < 2 {
			return errors.Join(append(errs, fmt.Errorf("segment %#x at %d has length %d", code, off, length))...)
		}
		if err := jpegSegment(r, m, code, off+4, length-2); err != nil {
			errs = append(errs, err)
		}
		off += 2 + length
	}
	return errors.Join(append(errs, errors.New("too many JPEG segments"))...)
}

// jpegSegment reads one segment's payload when it matters.
func jpegSegment(r *reader, m *Metadata, code byte, off, length int64) error {
	isSOF := code >= 0xC0 && code <= 0xCF && code != 0xC4 && code != 0xC8 && code != 0xCC
	if !isSOF && code != 0xE1 && code != 0xED {
		return nil
	}

	// A segment cut off by the end of the file is parsed as far as it
	// goes: an interrupted upload still carries most of its EXIF.
	var truncated error
	if off+length > r.size {
		truncated = fmt.Errorf("segment %#x at %d needs %d bytes, file ends at %d", code, off, length, r.size)
		length = max(r.size-off, 0)
	}
	payload, err := r.bytesAt(off, length)
	if err != nil {
		return fmt.Errorf("read segment %#x at %d: %w", code, off, err)
	}
	if truncated != nil {
		return errors.Join(truncated, applySegment(m, code, payload, isSOF))
	}
	return applySegment(m, code, payload, isSOF)
}

// applySegment applies one segment's payload.
func applySegment(m *Metadata, code byte, payload []byte, isSOF bool) error {
	switch {
	case isSOF:
		if len(payload) >= 5 && m.Width == 0 {
			m.Height = int(binary.BigEndian.Uint16(payload[1:]))
			m.Width = int(binary.BigEndian.Uint16(payload[3:]))
		}
	case code == 0xE1 && bytes.HasPrefix(payload, exifHeader):
		return readEXIFBlock(payload[len(exifHeader):], m)
	case code == 0xE1 && bytes.HasPrefix(payload, xmpHeader):
		applyXMP(payload[len(xmpHeader):], m)
	case code == 0xED && bytes.HasPrefix(payload, psHeader):
		applyIPTC(findIPTC(payload[len(psHeader):]), m)
	}
	return nil
}

// readEXIFBlock parses an in-memory TIFF structure and applies it; tags
// read before an error are kept.
func readEXIFBlock(block []byte, m *Metadata) error {
	tags, err := parseTIFF(bytes.NewReader(block), int64(len(block)))
	applyEXIF(tags, m)
	if tags != nil {
		if xmp := tags.str(tags.ifd0, tagXMP); xmp != "" {
			applyXMP([]byte(xmp), m)
		}
	}
	if err != nil {
		return fmt.Errorf("EXIF: %w", err)
	}
	return nil
}
