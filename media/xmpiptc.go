package media

import (
	"bytes"
	"encoding/binary"
	"regexp"
	"strings"
)

// xmpDateTags are XMP properties that hold the capture time, best first.
var xmpDateTags = []string{"exif:DateTimeOriginal", "photoshop:DateCreated", "xmp:CreateDate"}

// xmpDatePattern is an ISO 8601 date-time with an optional fraction and zone.
var xmpDatePattern = regexp.MustCompile(`^(\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d)?)(\.\d+)?(Z|[+-]\d\d:\d\d)?$`)

// takenAt is a capture time found outside EXIF, used when EXIF has none.
type takenAt struct {
	local  string
	offset string
}

// applyXMP notes the capture time XMP holds. XMP is searched as text: a
// full RDF parser buys nothing for three properties.
func applyXMP(packet []byte, m *Metadata) {
	// Editors that strip EXIF often keep the orientation here.
	o := xmpProperty(packet, "tiff:Orientation")
	if m.Orientation == 0 && len(o) == 1 && o[0] >= '1' && o[0] <= '8' {
		m.Orientation = int(o[0] - '0')
	}
	if m.xmpTaken.local != "" {
		return
	}
	for _, name := range xmpDateTags {
		value := xmpProperty(packet, name)
		parts := xmpDatePattern.FindStringSubmatch(value)
		if parts == nil {
			continue
		}

		local := parts[1]
		if len(local) == 16 {
			local += ":00"
		}
		m.xmpTaken.local = local + parts[2]
		switch zone := parts[3]; {
		case zone == "Z":
			m.xmpTaken.offset = "+00:00"
		case offsetPattern.MatchString(zone):
			m.xmpTaken.offset = zone
		}
		return
	}
}

// xmpProperty finds name as an attribute (name="v") or element (<name>v<).
func xmpProperty(packet []byte, name string) string {
	if i := bytes.Index(packet, []byte(name+`="`)); i >= 0 {
		rest := packet[i+len(name)+2:]
		if j := bytes.IndexByte(rest, '"'); j >= 0 {
			return strings.TrimSpace(string(rest[:j]))
		}
	}
	if i := bytes.Index(packet, []byte("<"+name+">")); i >= 0 {
		rest := packet[i+len(name)+2:]
		if j := bytes.IndexByte(rest, '<'); j >= 0 {
			return strings.TrimSpace(string(rest[:j]))
		}
	}
	return ""
}

// findIPTC returns the IPTC block (image resource 0x0404) of a Photoshop
// APP13 payload, or nil.
func findIPTC(resources []byte) []byte {
	for p := 0; p+12 <= len(resources); {
		if string(resources[p:p+4]) != "8BIM" {
			return nil
		}
		id := binary.BigEndian.Uint16(resources[p+4:])

		// The name is a Pascal string padded to an even length.
		nameLen := int(resources[p+6])
		p += 6 + (nameLen+2)&^1
		if p+4 > len(resources) {
			return nil
		}
		size := int(binary.BigEndian.Uint32(resources[p:]))
		p += 4
		if size < 0 || p+size > len(resources) {
			return nil
		}
		if id == 0x0404 {
			return resources[p : p+size]
		}
		p += (size + 1) &^ 1
	}
	return nil
}

// applyIPTC notes the capture time of IPTC DateCreated (2:55) and
// TimeCreated (2:60, "HHMMSS±HHMM").
func applyIPTC(iptc []byte, m *Metadata) {
	var date, clock string
	for p := 0; p+5 <= len(iptc) && iptc[p] == 0x1C; {
		record, dataset := iptc[p+1], iptc[p+2]
		size := int(binary.BigEndian.Uint16(iptc[p+3:]))
		p += 5
		if size&0x8000 != 0 || p+size > len(iptc) {
			return
		}
		value := string(iptc[p : p+size])
		p += size
		if record != 2 {
			continue
		}
		switch dataset {
		case 55:
			date = value
		case 60:
			clock = value
		}
	}

	if len(date) != 8 || !isDigits(date) || len(clock) < 6 || !isDigits(clock[:6]) {
		return
	}
	m.iptcTaken.local = date[:4] + "-" + date[4:6] + "-" + date[6:8] +
		"T" + clock[:2] + ":" + clock[2:4] + ":" + clock[4:6]
	if zone := clock[6:]; len(zone) == 5 && isDigits(zone[1:]) {
		offset := zone[:3] + ":" + zone[3:]
		if offsetPattern.MatchString(offset) {
			m.iptcTaken.offset = offset
		}
	}
}

// applyFallbackTimes uses IPTC, then XMP, when EXIF gave no capture time.
// IPTC comes first because it carries the zone more often.
func applyFallbackTimes(m *Metadata) {
	if m.TakenAtLocal != "" {
		return
	}
	for _, candidate := range []struct {
		taken  takenAt
		source string
	}{{m.iptcTaken, "IPTC"}, {m.xmpTaken, "XMP"}} {
		if candidate.taken.local == "" {
			continue
		}
		m.TakenAtLocal = candidate.taken.local
		if candidate.taken.offset != "" {
			m.TakenAtOffset, m.TakenAtOffsetSource = candidate.taken.offset, candidate.source
		}
		return
	}
}
