package media

import (
	"bytes"
	"errors"
	"fmt"
)

// maxHEIFItems bounds item tables; photos hold a few dozen items.
const maxHEIFItems = 10000

// heifExtent is one piece of an item's data.
type heifExtent struct {
	offset, length uint64
}

// heifItem is what the meta box says about one item.
type heifItem struct {
	typ          string
	construction uint16
	base         uint64
	extents      []heifExtent
	props        []int
}

// probeHEIF reads the meta box: the primary item's ispe gives the stored
// size and its irot the display rotation; the Exif item holds EXIF. irot
// and EXIF Orientation describe the same turn, so only irot is applied.
func probeHEIF(r *reader, m *Metadata) error {
	boxes, walkErr := topBoxes(r)
	metaBox, ok := findTop(boxes, "meta")
	if !ok {
		return errors.Join(walkErr, errors.New("no meta box"))
	}
	payload, err := loadBox(r, metaBox)
	if err != nil {
		return errors.Join(walkErr, fmt.Errorf("read meta box: %w", err))
	}
	if len(payload) < 4 {
		return errors.New("meta box too short")
	}
	metaChildren, childErr := children(payload[4:])

	primary := heifPrimary(metaChildren)
	items := map[uint32]*heifItem{}
	heifInfos(metaChildren, items)
	heifLocations(metaChildren, items)
	props := heifProperties(metaChildren, items)

	var errs []error
	errs = append(errs, walkErr, childErr)
	if item := items[primary]; item != nil {
		rotation := 0
		for _, index := range item.props {
			if index < 1 || index > len(props) {
				continue
			}
			prop := props[index-1]
			switch prop.typ {
			case "ispe":
				c := cursor{b: prop.data}
				c.take(4)
				w, h := c.u32(), c.u32()
				if !c.short {
					m.Width, m.Height = int(w), int(h)
				}
			case "irot":
				if len(prop.data) >= 1 {
					rotation = int(prop.data[0]&3) * 90
				}
			}
		}
		m.DisplayWidth, m.DisplayHeight = m.Width, m.Height
		if rotation == 90 || rotation == 270 {
			m.DisplayWidth, m.DisplayHeight = m.Height, m.Width
		}
	}

	idat, _ := find(metaChildren, "idat")
	for _, item := range items {
		if item.typ != "Exif" {
			continue
		}
		data, err := heifItemData(r, item, idat.data)
		if err != nil {
			errs = append(errs, fmt.Errorf("read Exif item: %w", err))
			break
		}

		// The payload starts with the offset of the TIFF header.
		c := cursor{b: data}
		skip := int(c.u32())
		if c.short || skip < 0 || 4+skip > len(data) {
			errs = append(errs, errors.New("bad Exif item header"))
			break
		}
		block := bytes.TrimPrefix(data[4+skip:], exifHeader)
		if err := readEXIFBlock(block, m); err != nil {
			errs = append(errs, err)
		}
		break
	}
	return errors.Join(errs...)
}

func findTop(boxes []topBox, typ string) (topBox, bool) {
	for _, b := range boxes {
		if b.typ == typ {
			return b, true
		}
	}
	return topBox{}, false
}

// heifPrimary reads pitm, the primary item id.
func heifPrimary(meta []child) uint32 {
	pitm, ok := find(meta, "pitm")
	if !ok {
		return 0
	}
	c := cursor{b: pitm.data}
	if c.u8() == 0 {
		c.take(3)
		return uint32(c.u16())
	}
	c.take(3)
	return c.u32()
}

// heifInfos reads iinf: each item's type.
func heifInfos(meta []child, items map[uint32]*heifItem) {
	iinf, ok := find(meta, "iinf")
	if !ok {
		return
	}
	c := cursor{b: iinf.data}
	if c.u8() == 0 {
		c.take(3)
		c.u16()
	} else {
		c.take(3)
		c.u32()
	}
	entries, _ := children(iinf.data[min(c.p, len(iinf.data)):])
	for _, entry := range entries {
		if entry.typ != "infe" || len(items) >= maxHEIFItems {
			continue
		}
		e := cursor{b: entry.data}
		version := e.u8()
		e.take(3)
		if version < 2 {
			continue
		}
		var id uint32
		if version == 2 {
			id = uint32(e.u16())
		} else {
			id = e.u32()
		}
		e.u16()
		typ := string(e.take(4))
		if !e.short {
			heifItemFor(items, id).typ = typ
		}
	}
}

func heifItemFor(items map[uint32]*heifItem, id uint32) *heifItem {
	if items[id] == nil {
		items[id] = &heifItem{}
	}
	return items[id]
}

// heifLocations reads iloc: where each item's bytes are.
func heifLocations(meta []child, items map[uint32]*heifItem) {
	iloc, ok := find(meta, "iloc")
	if !ok {
		return
	}
	c := cursor{b: iloc.data}
	version := c.u8()
	c.take(3)
	sizes := c.u16()
	offsetSize, lengthSize := int(sizes>>12), int(sizes>>8&15)
	baseSize, indexSize := int(sizes>>4&15), int(sizes&15)
	if version == 0 {
		indexSize = 0
	}

	var count uint32
	if version < 2 {
		count = uint32(c.u16())
	} else {
		count = c.u32()
	}
	for i := uint32(0); i < count && !c.short && i < maxHEIFItems; i++ {
		var id uint32
		if version < 2 {
			id = uint32(c.u16())
		} else {
			id = c.u32()
		}
		item := heifItemFor(items, id)
		if version >= 1 {
			item.construction = c.u16() & 15
		}
		c.u16()
		item.base = c.uintN(baseSize)
		extents := int(c.u16())
		for j := 0; j < extents && !c.short; j++ {
			c.uintN(indexSize)
			offset := c.uintN(offsetSize)
			length := c.uintN(lengthSize)
			item.extents = append(item.extents, heifExtent{offset, length})
		}
	}
}

// heifProperties reads iprp: the property boxes, and which items use which.
func heifProperties(meta []child, items map[uint32]*heifItem) []child {
	iprp, ok := find(meta, "iprp")
	if !ok {
		return nil
	}
	boxes, _ := children(iprp.data)
	ipco, _ := find(boxes, "ipco")
	props, _ := children(ipco.data)

	for _, b := range boxes {
		if b.typ != "ipma" {
			continue
		}
		c := cursor{b: b.data}
		version := c.u8()
		flags := c.take(3)
		count := c.u32()
		for i := uint32(0); i < count && !c.short && i < maxHEIFItems; i++ {
			var id uint32
			if version < 1 {
				id = uint32(c.u16())
			} else {
				id = c.u32()
			}
			item := heifItemFor(items, id)
			n := int(c.u8())
			for j := 0; j < n && !c.short; j++ {
				if flags[2]&1 != 0 {
					item.props = append(item.props, int(c.u16()&0x7fff))
				} else {
					item.props = append(item.props, int(c.u8()&0x7f))
				}
			}
		}
	}
	return props
}

// heifItemData reads an item's extents from the file or from idat.
func heifItemData(r *reader, item *heifItem, idat []byte) ([]byte, error) {
	var out []byte
	for _, e := range item.extents {
		start := item.base + e.offset
		if e.length > maxTextChunk || uint64(len(out))+e.length > maxTextChunk {
			return nil, fmt.Errorf("item extent of %d bytes too large", e.length)
		}
		switch item.construction {
		case 0:
			length := e.length
			if length == 0 {
				length = uint64(max(r.size-int64(start), 0))
			}
			if length > maxTextChunk {
				return nil, fmt.Errorf("item extent of %d bytes too large", length)
			}
			part, err := r.bytesAt(int64(start), int64(length))
			if err != nil {
				return nil, err
			}
			out = append(out, part...)
		case 1:
			if start+e.length > uint64(len(idat)) {
				return nil, errors.New("item extent outside idat")
			}
			out = append(out, idat[start:start+e.length]...)
		default:
			return nil, fmt.Errorf("item construction method %d not supported", item.construction)
		}
	}
	return out, nil
}
