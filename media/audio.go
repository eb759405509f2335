package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// mp3Frame is one decoded MPEG audio frame header.
type mp3Frame struct {
	version    int // 1, 2, or 25 for MPEG-2.5
	layer      int
	bitrate    int // bits per second
	sampleRate int
	channels   int
	padding    int
}

var (
	mp3Bitrates = map[[2]int][]int{
		{1, 1}: {0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448},
		{1, 2}: {0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384},
		{1, 3}: {0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320},
		{2, 1}: {0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256},
		{2, 2}: {0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160},
	}
	mp3Rates = map[int][]int{1: {44100, 48000, 32000}, 2: {22050, 24000, 16000}, 25: {11025, 12000, 8000}}
)

// parseMP3Header decodes a 4-byte frame header.
func parseMP3Header(h []byte) (mp3Frame, bool) {
	if len(h) < 4 || h[0] != 0xFF || h[1]&0xE0 != 0xE0 {
		return mp3Frame{}, false
	}
	f := mp3Frame{}
	switch h[1] >> 3 & 3 {
	case 0:
		f.version = 25
	case 2:
		f.version = 2
	case 3:
		f.version = 1
	default:
		return f, false
	}
	f.layer = 4 - int(h[1]>>1&3)
	bitrateIndex, rateIndex := int(h[2]>>4), int(h[2]>>2&3)
	if f.layer == 4 || bitrateIndex == 0 || bitrateIndex == 15 || rateIndex == 3 {
		return f, false
	}

	table := [2]int{1, f.layer}
	if f.version != 1 {
		table = [2]int{2, min(f.layer, 2)}
		if f.layer == 1 {
			table = [2]int{2, 1}
		}
	}
	f.bitrate = mp3Bitrates[table][bitrateIndex] * 1000
	f.sampleRate = mp3Rates[f.version][rateIndex]
	f.padding = int(h[2] >> 1 & 1)
	f.channels = 2
	if h[3]>>6 == 3 {
		f.channels = 1
	}
	return f, true
}

// samplesPerFrame is the frame length in samples.
func (f mp3Frame) samplesPerFrame() int {
	switch {
	case f.layer == 1:
		return 384
	case f.layer == 3 && f.version != 1:
		return 576
	}
	return 1152
}

// probeMP3 reads the ID3v2 tag, then the first frame; the duration comes
// from a Xing/Info frame count, or from the size at a constant bitrate.
func probeMP3(r *reader, m *Metadata) error {
	m.Container, m.AudioCodec = "mp3", "mp3"
	var errs []error
	start := int64(0)
	head, err := r.bytesAt(0, min(10, r.size))
	if err == nil && len(head) == 10 && bytes.HasPrefix(head, []byte("ID3")) {
		size := int64(syncsafe(head[6:10]))
		if head[5]&0x10 != 0 {
			size += 10
		}
		if tag, err := r.bytesAt(10, min(size, maxTextChunk, r.size-10)); err == nil {
			applyID3(head[3], tag, m)
		} else {
			errs = append(errs, fmt.Errorf("read ID3 tag: %w", err))
		}
		start = 10 + size
	}

	// Find the first frame within a short window: some taggers pad.
	window, err := r.bytesAt(start, min(64<<10, r.size-start))
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("read first frame: %w", err))...)
	}
	for i := 0; i+4 <= len(window); i++ {
		frame, ok := parseMP3Header(window[i:])
		if !ok {
			continue
		}
		m.SampleRate, m.Channels = frame.sampleRate, frame.channels
		m.Duration = mp3Duration(r, frame, window[i:], start+int64(i))
		return errors.Join(errs...)
	}
	return errors.Join(append(errs, errors.New("no MPEG audio frame found"))...)
}

// mp3Duration uses the Xing/Info frame count when present; otherwise it
// assumes a constant bitrate over the audio bytes.
func mp3Duration(r *reader, f mp3Frame, frame []byte, at int64) float64 {
	sideInfo := 32
	switch {
	case f.version == 1 && f.channels == 1:
		sideInfo = 17
	case f.version != 1 && f.channels == 2:
		sideInfo = 17
	case f.version != 1:
		sideInfo = 9
	}
	if p := 4 + sideInfo; p+12 <= len(frame) {
		tag := string(frame[p : p+4])
		flags := binary.BigEndian.Uint32(frame[p+4:])
		if (tag == "Xing" || tag == "Info") && flags&1 != 0 {
			frames := binary.BigEndian.Uint32(frame[p+8:])
			return float64(frames) * float64(f.samplesPerFrame()) / float64(f.sampleRate)
		}
	}

	audio := r.size - at
	if tail, err := r.bytesAt(r.size-128, 3); err == nil && string(tail) == "TAG" {
		audio -= 128
	}
	if f.bitrate == 0 {
		return 0
	}
	return float64(audio) * 8 / float64(f.bitrate)
}

func syncsafe(b []byte) uint32 {
	return uint32(b[0]&0x7f)<<21 | uint32(b[1]&0x7f)<<14 | uint32(b[2]&0x7f)<<7 | uint32(b[3]&0x7f)
}

// applyID3 reads the title, artist and album frames of an ID3v2 tag.
func applyID3(version byte, tag []byte, m *Metadata) {
	idLen, headerLen := 4, 10
	names := map[string]*string{"TIT2": &m.Title, "TPE1": &m.Artist, "TALB": &m.Album}
	if version == 2 {
		idLen, headerLen = 3, 6
		names = map[string]*string{"TT2": &m.Title, "TP1": &m.Artist, "TAL": &m.Album}
	}

	for p := 0; p+headerLen <= len(tag); {
		id := string(tag[p : p+idLen])
		if tag[p] == 0 {
			return
		}
		var size int
		switch version {
		case 2:
			size = int(tag[p+3])<<16 | int(tag[p+4])<<8 | int(tag[p+5])
		case 3:
			size = int(binary.BigEndian.Uint32(tag[p+4:]))
		default:
			size = int(syncsafe(tag[p+4:]))
		}
		p += headerLen
		if size < 0 || size > len(tag)-p {
			return
		}
		if field, ok := names[id]; ok && size > 1 {
			*field = decodeID3Text(tag[p : p+size])
		}
		p += size
	}
}

// decodeID3Text decodes a text frame by its encoding byte.
func decodeID3Text(b []byte) string {
	encoding, text := b[0], b[1:]
	var s string
	switch encoding {
	case 1, 2:
		s = decodeUTF16(text, encoding == 2)
	case 3:
		s = string(text)
	default:
		runes := make([]rune, len(text))
		for i, c := range text {
			runes[i] = rune(c)
		}
		s = string(runes)
	}
	// Several values are NUL-separated; the first is the one shown.
	s, _, _ = strings.Cut(s, "\x00")
	return strings.TrimSpace(s)
}

func decodeUTF16(b []byte, bigEndian bool) string {
	if len(b) >= 2 && b[0] == 0xFE && b[1] == 0xFF {
		bigEndian, b = true, b[2:]
	} else if len(b) >= 2 && b[0] == 0xFF && b[1] == 0xFE {
		bigEndian, b = false, b[2:]
	}
	units := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		if bigEndian {
			units = append(units, binary.BigEndian.Uint16(b[i:]))
		} else {
			units = append(units, binary.LittleEndian.Uint16(b[i:]))
		}
	}
	var sb strings.Builder
	for i := 0; i < len(units); i++ {
		u := rune(units[i])
		if u >= 0xD800 && u < 0xDC00 && i+1 < len(units) {
			u = 0x10000 + (u-0xD800)<<10 + (rune(units[i+1]) - 0xDC00)
			i++
		}
		sb.WriteRune(u)
	}
	return sb.String()
}

// maxFLACBlocks bounds the metadata block walk.
const maxFLACBlocks = 1000

// probeFLAC reads STREAMINFO and the Vorbis comment block.
func probeFLAC(r *reader, m *Metadata) error {
	m.Container, m.AudioCodec = "flac", "flac"
	off := int64(4)
	for i := 0; i < maxFLACBlocks; i++ {
		header, err := r.bytesAt(off, 4)
		if err != nil {
			return fmt.Errorf("read metadata block at %d: %w", off, err)
		}
		last, kind := header[0]&0x80 != 0, header[0]&0x7f
		length := int64(header[1])<<16 | int64(header[2])<<8 | int64(header[3])

		if kind == 0 || kind == 4 {
			payload, err := r.bytesAt(off+4, min(length, maxTextChunk))
			if err != nil {
				return fmt.Errorf("read metadata block %d: %w", kind, err)
			}
			if kind == 0 && len(payload) >= 18 {
				bits := binary.BigEndian.Uint64(payload[10:])
				m.SampleRate = int(bits >> 44)
				m.Channels = int(bits>>41&7) + 1
				total := bits & (1<<36 - 1)
				if m.SampleRate > 0 {
					m.Duration = roundTo(float64(total)/float64(m.SampleRate), 6)
				}
			}
			if kind == 4 {
				applyVorbisComments(payload, m)
			}
		}
		if last {
			return nil
		}
		off += 4 + length
	}
	return errors.New("too many FLAC metadata blocks")
}

// applyVorbisComments reads TITLE, ARTIST and ALBUM (little-endian lengths).
func applyVorbisComments(b []byte, m *Metadata) {
	if len(b) < 8 {
		return
	}
	vendor := int(binary.LittleEndian.Uint32(b))
	p := 4 + vendor
	if vendor < 0 || p+4 > len(b) {
		return
	}
	count := int(binary.LittleEndian.Uint32(b[p:]))
	p += 4
	for i := 0; i < count && p+4 <= len(b); i++ {
		n := int(binary.LittleEndian.Uint32(b[p:]))
		p += 4
		if n < 0 || n > len(b)-p {
			return
		}
		key, value, _ := strings.Cut(string(b[p:p+n]), "=")
		p += n
		switch strings.ToUpper(key) {
		case "TITLE":
			m.Title = firstNonEmpty(m.Title, value)
		case "ARTIST":
			m.Artist = firstNonEmpty(m.Artist, value)
		case "ALBUM":
			m.Album = firstNonEmpty(m.Album, value)
		}
	}
}

// probeWAV reads the fmt chunk and the data size.
func probeWAV(r *reader, m *Metadata) error {
	m.Container, m.AudioCodec = "wav", "pcm"
	var byteRate uint32
	for off, i := int64(12), 0; off+8 <= r.size && i < 1000; i++ {
		header, err := r.bytesAt(off, 8)
		if err != nil {
			return fmt.Errorf("read chunk at %d: %w", off, err)
		}
		length := int64(binary.LittleEndian.Uint32(header[4:]))
		switch string(header[:4]) {
		case "fmt ":
			f, err := r.bytesAt(off+8, min(length, 40))
			if err != nil || len(f) < 16 {
				return fmt.Errorf("read fmt chunk: %w", errOr(err, errors.New("short")))
			}
			m.Channels = int(binary.LittleEndian.Uint16(f[2:]))
			m.SampleRate = int(binary.LittleEndian.Uint32(f[4:]))
			byteRate = binary.LittleEndian.Uint32(f[8:])
		case "data":
			if byteRate > 0 {
				m.Duration = float64(min(length, r.size-off-8)) / float64(byteRate)
			}
			return nil
		}
		off += 8 + length + length&1
	}
	return nil
}
