package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

const (
	// maxIFDEntries refuses directories no camera writes; fuzzed files
	// claim tens of thousands.
	maxIFDEntries = 1000

	// maxTagBytes bounds one kept tag value; the tags kept are short.
	maxTagBytes = 64 << 10
)

// TIFF tags kept from IFD0, the Exif IFD and the GPS IFD.
const (
	tagImageWidth       = 0x0100
	tagImageLength      = 0x0101
	tagMake             = 0x010F
	tagModel            = 0x0110
	tagOrientation      = 0x0112
	tagExifIFD          = 0x8769
	tagGPSIFD           = 0x8825
	tagExposureTime     = 0x829A
	tagFNumber          = 0x829D
	tagISO              = 0x8827
	tagDateTimeOriginal = 0x9003
	tagOffsetTimeOrig   = 0x9011
	tagFocalLength      = 0x920A
	tagSubSecTimeOrig   = 0x9291
	tagLensModel        = 0xA434
	tagXMP              = 0x02BC

	tagGPSLatRef    = 1
	tagGPSLat       = 2
	tagGPSLonRef    = 3
	tagGPSLon       = 4
	tagGPSAltRef    = 5
	tagGPSAlt       = 6
	tagGPSTimeStamp = 7
	tagGPSDateStamp = 0x1D
)

// typeSizes is the byte size of one value of each TIFF field type.
var typeSizes = map[uint16]int64{1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}

// tagValue is one kept tag: its type, count and raw bytes.
type tagValue struct {
	typ   uint16
	count int
	raw   []byte
}

// exifTags are the kept tags of the three directories that matter.
type exifTags struct {
	order binary.ByteOrder
	ifd0  map[uint16]tagValue
	exif  map[uint16]tagValue
	gps   map[uint16]tagValue
}

// tiffParser walks IFDs of one TIFF structure read through r.
type tiffParser struct {
	r       io.ReaderAt
	size    int64
	order   binary.ByteOrder
	visited map[int64]bool
}

// parseTIFF reads IFD0, the Exif IFD and the GPS IFD of the TIFF structure
// in r (a TIFF file, or the payload of an EXIF block). Whatever was read
// before an error is returned with it.
func parseTIFF(r io.ReaderAt, size int64) (*exifTags, error) {
	header := make([]byte, 8)
	if _, err := r.ReadAt(header, 0); err != nil {
		return nil, fmt.Errorf("read TIFF header: %w", err)
	}

	p := &tiffParser{r: r, size: size, visited: map[int64]bool{}}
	switch string(header[:2]) {
	case "II":
		p.order = binary.LittleEndian
	case "MM":
		p.order = binary.BigEndian
	default:
		return nil, fmt.Errorf("bad TIFF byte order %q", header[:2])
	}

	tags := &exifTags{order: p.order}
	var errs []error
	var err error
	tags.ifd0, err = p.readIFD(int64(p.order.Uint32(header[4:])))
	if err != nil {
		errs = append(errs, fmt.Errorf("IFD0: %w", err))
	}

	if off, ok := tags.uint(tags.ifd0, tagExifIFD); ok {
		tags.exif, err = p.readIFD(int64(off))
		if err != nil {
			errs = append(errs, fmt.Errorf("Exif IFD: %w", err))
		}
	}
	if off, ok := tags.uint(tags.ifd0, tagGPSIFD); ok {
		tags.gps, err = p.readIFD(int64(off))
		if err != nil {
			errs = append(errs, fmt.Errorf("GPS IFD: %w", err))
		}
	}
	return tags, errors.Join(errs...)
}

// readIFD reads the directory at off, keeping the tags in keptTags. A
// directory seen before is refused, which breaks pointer loops.
func (p *tiffParser) readIFD(off int64) (map[uint16]tagValue, error) {
	tags := map[uint16]tagValue{}
	if off < 8 || off+2 > p.size {
		return tags, fmt.Errorf("directory offset %d outside the %d-byte block", off, p.size)
	}
	if p.visited[off] {
		return tags, fmt.Errorf("directory loop at offset %d", off)
	}
	p.visited[off] = true

	countBytes := make([]byte, 2)
	if _, err := p.r.ReadAt(countBytes, off); err != nil {
		return tags, fmt.Errorf("read entry count at %d: %w", off, err)
	}
	count := int64(p.order.Uint16(countBytes))
	if count > maxIFDEntries {
		return tags, fmt.Errorf("directory at %d claims %d entries", off, count)
	}

	entries := make([]byte, count*12)
	n, err := p.r.ReadAt(entries, off+2)
	if int64(n) < count*12 {
		// Keep the entries that were read whole: truncated files often
		// still hold the interesting first tags.
		entries = entries[:n-n%12]
		err = fmt.Errorf("directory at %d cut short after %d of %d entries: %w",
			off, n/12, count, errOr(err, io.ErrUnexpectedEOF))
	} else {
		err = nil
	}

	for i := 0; i+12 <= len(entries); i += 12 {
		entry := entries[i : i+12]
		tag := p.order.Uint16(entry)
		if !keptTags[tag] {
			continue
		}
		value, verr := p.value(entry)
		if verr != nil {
			continue
		}
		tags[tag] = value
	}
	return tags, err
}

// value reads one entry's value, inline or at its offset.
func (p *tiffParser) value(entry []byte) (tagValue, error) {
	typ := p.order.Uint16(entry[2:])
	count := int64(p.order.Uint32(entry[4:]))
	size, ok := typeSizes[typ]
	if !ok {
		return tagValue{}, fmt.Errorf("unknown field type %d", typ)
	}
	total := size * count
	if count < 0 || total > maxTagBytes {
		return tagValue{}, fmt.Errorf("value of %d bytes too large", total)
	}

	if total <= 4 {
		return tagValue{typ: typ, count: int(count), raw: append([]byte(nil), entry[8:8+total]...)}, nil
	}
	off := int64(p.order.Uint32(entry[8:]))
	if off+total > p.size {
		return tagValue{}, fmt.Errorf("value at %d+%d outside the block", off, total)
	}
	raw := make([]byte, total)
	if _, err := p.r.ReadAt(raw, off); err != nil {
		return tagValue{}, fmt.Errorf("read value at %d: %w", off, err)
	}
	return tagValue{typ: typ, count: int(count), raw: raw}, nil
}

// keptTags lists the tags worth keeping; the GPS IFD uses low numbers that
// do not clash with the others.
var keptTags = map[uint16]bool{
	tagImageWidth: true, tagImageLength: true, tagMake: true, tagModel: true,
	tagOrientation: true, tagExifIFD: true, tagGPSIFD: true, tagExposureTime: true,
	tagFNumber: true, tagISO: true, tagDateTimeOriginal: true, tagOffsetTimeOrig: true,
	tagFocalLength: true, tagSubSecTimeOrig: true, tagLensModel: true, tagXMP: true,
	tagGPSLatRef: true, tagGPSLat: true, tagGPSLonRef: true, tagGPSLon: true,
	tagGPSAltRef: true, tagGPSAlt: true, tagGPSTimeStamp: true, tagGPSDateStamp: true,
}

func errOr(err, fallback error) error {
	if err != nil {
		return err
	}
	return fallback
}

// str returns an ASCII or UNDEFINED tag as text.
func (t *exifTags) str(dir map[uint16]tagValue, tag uint16) string {
	v, ok := dir[tag]
	if !ok || (v.typ != 2 && v.typ != 7 && v.typ != 1) {
		return ""
	}
	s := string(v.raw)
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// uint returns the first value of an integer tag.
func (t *exifTags) uint(dir map[uint16]tagValue, tag uint16) (uint64, bool) {
	v, ok := dir[tag]
	if !ok || v.count < 1 {
		return 0, false
	}
	switch v.typ {
	case 1, 7:
		return uint64(v.raw[0]), true
	case 3, 8:
		return uint64(t.order.Uint16(v.raw)), true
	case 4, 9, 13:
		return uint64(t.order.Uint32(v.raw)), true
	}
	return 0, false
}

// rationals returns the values of a RATIONAL or SRATIONAL tag; a value
// with a zero denominator makes ok false.
func (t *exifTags) rationals(dir map[uint16]tagValue, tag uint16) (values []float64, ok bool) {
	v, found := dir[tag]
	if !found || (v.typ != 5 && v.typ != 10) || v.count < 1 {
		return nil, false
	}
	for i := 0; i+8 <= len(v.raw); i += 8 {
		num, den := t.order.Uint32(v.raw[i:]), t.order.Uint32(v.raw[i+4:])
		if den == 0 {
			return values, false
		}
		if v.typ == 10 {
			values = append(values, float64(int32(num))/float64(int32(den)))
		} else {
			values = append(values, float64(num)/float64(den))
		}
	}
	return values, len(values) > 0
}

// rational returns the first value of a rational tag.
func (t *exifTags) rational(dir map[uint16]tagValue, tag uint16) (float64, bool) {
	values, ok := t.rationals(dir, tag)
	if !ok {
		return 0, false
	}
	return values[0], true
}
