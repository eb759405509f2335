package media

import (
	"encoding/binary"
	"errors"
	"fmt"
)

const (
	// maxTopBoxes bounds the walk over a file's top-level boxes.
	maxTopBoxes = 10000

	// maxBoxLoad bounds a box loaded whole into memory (moov, meta).
	maxBoxLoad = 24 << 20
)

// topBox is a top-level box located in the file.
type topBox struct {
	typ  string
	data int64 // offset of the payload
	size int64 // payload size
}

// topBoxes lists the top-level boxes by reading only their headers, so a
// movie's moov is found at the end without reading the mdat before it.
func topBoxes(r *reader) ([]topBox, error) {
	var boxes []topBox
	for off := int64(0); off+8 <= r.size && len(boxes) < maxTopBoxes; {
		header, err := r.bytesAt(off, 8)
		if err != nil {
			return boxes, fmt.Errorf("read box header at %d: %w", off, err)
		}
		size := int64(binary.BigEndian.Uint32(header))
		typ := string(header[4:8])
		headerLen := int64(8)

		switch size {
		case 0:
			size = r.size - off
		case 1:
			large, err := r.bytesAt(off+8, 8)
			if err != nil {
				return boxes, fmt.Errorf("read large size of %q at %d: %w", typ, off, err)
			}
			size = int64(binary.BigEndian.Uint64(large))
			headerLen = 16
		}
		if size < headerLen {
			return boxes, fmt.Errorf("box %q at %d has size %d", typ, off, size)
		}

		box := topBox{typ: typ, data: off + headerLen, size: size - headerLen}
		if off+size > r.size {
			// Keep what the truncated box can still give (moov headers
			// often survive), and say so.
			box.size = r.size - box.data
			boxes = append(boxes, box)
			return boxes, fmt.Errorf("box %q at %d claims %d bytes, file ends at %d", typ, off, size, r.size)
		}
		boxes = append(boxes, box)
		off += size
	}
	return boxes, nil
}

// loadBox reads a top-level box's payload into memory.
func loadBox(r *reader, box topBox) ([]byte, error) {
	if box.size > maxBoxLoad {
		return nil, fmt.Errorf("box %q of %d bytes is over the %d-byte limit", box.typ, box.size, maxBoxLoad)
	}
	return r.bytesAt(box.data, box.size)
}

// child is a box inside a payload held in memory.
type child struct {
	typ  string
	data []byte
}

// children splits a payload into its boxes; a malformed tail is reported
// and the boxes before it kept.
func children(payload []byte) ([]child, error) {
	var out []child
	for p := 0; p+8 <= len(payload); {
		size := int(binary.BigEndian.Uint32(payload[p:]))
		typ := string(payload[p+4 : p+8])
		headerLen := 8
		switch size {
		case 0:
			size = len(payload) - p
		case 1:
			if p+16 > len(payload) {
				return out, errors.New("short large-size box")
			}
			large := binary.BigEndian.Uint64(payload[p+8:])
			if large > uint64(len(payload)-p) {
				return out, fmt.Errorf("box %q overruns its parent", typ)
			}
			size, headerLen = int(large), 16
		}
		if size < headerLen || size > len(payload)-p {
			return out, fmt.Errorf("box %q of size %d overruns its parent", typ, size)
		}
		out = append(out, child{typ: typ, data: payload[p+headerLen : p+size]})
		p += size
	}
	return out, nil
}

// find returns the first child of the given type.
func find(boxes []child, typ string) (child, bool) {
	for _, b := range boxes {
		if b.typ == typ {
			return b, true
		}
	}
	return child{}, false
}

// path follows a chain of first children, e.g. path(moov, "mdia", "minf").
func path(payload []byte, types ...string) ([]byte, bool) {
	for _, typ := range types {
		boxes, _ := children(payload)
		b, ok := find(boxes, typ)
		if !ok {
			return nil, false
		}
		payload = b.data
	}
	return payload, true
}

// cursor reads big-endian fields from a payload without panicking: reads
// past the end return zero and set short.
type cursor struct {
	b     []byte
	p     int
	short bool
}

func (c *cursor) take(n int) []byte {
	if n < 0 || c.p+n > len(c.b) {
		c.short = true
		c.p = len(c.b)
		return make([]byte, max(n, 0))
	}
	out := c.b[c.p : c.p+n]
	c.p += n
	return out
}

func (c *cursor) u8() uint8   { return c.take(1)[0] }
func (c *cursor) u16() uint16 { return binary.BigEndian.Uint16(c.take(2)) }
func (c *cursor) u32() uint32 { return binary.BigEndian.Uint32(c.take(4)) }
func (c *cursor) u64() uint64 { return binary.BigEndian.Uint64(c.take(8)) }

// uintN reads an n-byte unsigned integer (n = 0, 4 or 8, as in iloc).
func (c *cursor) uintN(n int) uint64 {
	switch n {
	case 0:
		return 0
	case 2:
		return uint64(c.u16())
	case 4:
		return uint64(c.u32())
	case 8:
		return c.u64()
	}
	c.short = true
	return 0
}
