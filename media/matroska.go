package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// Matroska element ids, with their length marker bits kept.
const (
	ebmlHeader       = 0x1A45DFA3
	ebmlDocType      = 0x4282
	mkvSegment       = 0x18538067
	mkvInfo          = 0x1549A966
	mkvTimecodeScale = 0x2AD7B1
	mkvDuration      = 0x4489
	mkvDateUTC       = 0x4461
	mkvTitle         = 0x7BA9
	mkvTracks        = 0x1654AE6B
	mkvTrackEntry    = 0xAE
	mkvTrackType     = 0x83
	mkvCodecID       = 0x86
	mkvDefaultDur    = 0x23E383
	mkvVideo         = 0xE0
	mkvPixelWidth    = 0xB0
	mkvPixelHeight   = 0xBA
	mkvAudio         = 0xE1
	mkvSamplingFreq  = 0xB5
	mkvChannels      = 0x9F
	mkvCluster       = 0x1F43B675
)

// maxSegmentChildren bounds the walk over a segment's top elements.
const maxSegmentChildren = 4096

// mkvEpoch is the zero of Matroska DateUTC.
var mkvEpoch = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)

// matroskaCodecs maps CodecID to ffprobe codec names.
var matroskaCodecs = map[string]string{
	"V_MPEG4/ISO/AVC": "h264", "V_MPEGH/ISO/HEVC": "hevc", "V_VP8": "vp8", "V_VP9": "vp9",
	"V_AV1": "av1", "V_MPEG4/ISO/ASP": "mpeg4", "V_MPEG2": "mpeg2video", "V_THEORA": "theora",
	"A_VORBIS": "vorbis", "A_OPUS": "opus", "A_AAC": "aac", "A_MPEG/L3": "mp3",
	"A_FLAC": "flac", "A_AC3": "ac3", "A_EAC3": "eac3", "A_DTS": "dts", "A_PCM/INT/LIT": "pcm_s16le",
}

// ebmlElement is one element located in the file.
type ebmlElement struct {
	id   uint32
	data int64
	size int64 // -1 when unknown
}

// readElementHeader reads the id and size at off.
func readElementHeader(r *reader, off int64) (ebmlElement, error) {
	head, err := r.bytesAt(off, min(12, r.size-off))
	if err != nil {
		return ebmlElement{}, err
	}
	id, idLen, ok := ebmlVint(head, true)
	if !ok || idLen > 4 {
		return ebmlElement{}, fmt.Errorf("bad element id at %d", off)
	}
	size, sizeLen, ok := ebmlVint(head[idLen:], false)
	if !ok {
		return ebmlElement{}, fmt.Errorf("bad element size at %d", off)
	}
	return ebmlElement{id: uint32(id), data: off + int64(idLen+sizeLen), size: size}, nil
}

// ebmlVint decodes a variable-length integer; ids keep the marker bit,
// and an all-ones size means "unknown" (-1).
func ebmlVint(b []byte, keepMarker bool) (int64, int, bool) {
	if len(b) == 0 || b[0] == 0 {
		return 0, 0, false
	}
	n := 1
	for mask := byte(0x80); b[0]&mask == 0; mask >>= 1 {
		n++
	}
	if n > 8 || len(b) < n {
		return 0, 0, false
	}

	value := uint64(b[0])
	if !keepMarker {
		value &= uint64(0xFF >> n)
	}
	allOnes := value == uint64(0xFF>>n)
	for _, c := range b[1:n] {
		value = value<<8 | uint64(c)
		allOnes = allOnes && c == 0xFF
	}
	if !keepMarker && allOnes {
		return -1, n, true
	}
	return int64(value & math.MaxInt64), n, true
}

// probeMatroska reads the EBML header's DocType, the segment's Info and
// Tracks; it stops at the first Cluster once both were seen.
func probeMatroska(r *reader, m *Metadata) error {
	m.Container = "matroska,webm"
	head, err := readElementHeader(r, 0)
	if err != nil || head.id != ebmlHeader || head.size < 0 {
		return errors.Join(err, errors.New("bad EBML header"))
	}
	if header, err := r.bytesAt(head.data, min(head.size, 4096)); err == nil {
		if docType, ok := ebmlChildren(header)[ebmlDocType]; ok && string(docType[0]) == "webm" {
			m.Format = "webm"
		}
	}

	segment, err := readElementHeader(r, head.data+head.size)
	if err != nil || segment.id != mkvSegment {
		return errors.Join(err, errors.New("no Segment element"))
	}
	end := r.size
	if segment.size >= 0 {
		end = min(end, segment.data+segment.size)
	}

	var scale uint64 = 1000000
	var duration float64
	seenInfo, seenTracks := false, false
	off := segment.data
	for i := 0; i < maxSegmentChildren && off < end; i++ {
		el, err := readElementHeader(r, off)
		if err != nil {
			return fmt.Errorf("read segment element at %d: %w", off, err)
		}
		if el.id == mkvCluster && seenInfo && seenTracks {
			break
		}
		if el.size < 0 {
			return fmt.Errorf("element %#x at %d has unknown size", el.id, off)
		}

		switch el.id {
		case mkvInfo, mkvTracks:
			payload, err := r.bytesAt(el.data, min(el.size, maxBoxLoad))
			if err != nil {
				return fmt.Errorf("read element %#x: %w", el.id, err)
			}
			if el.id == mkvInfo {
				seenInfo = true
				scale, duration = matroskaInfo(payload, m)
			} else {
				seenTracks = true
				matroskaTracks(payload, m)
			}
		}
		off = el.data + el.size
	}

	if duration > 0 && scale > 0 {
		m.Duration = roundTo(duration*float64(scale)/1e9, 6)
	}
	if !seenTracks {
		return errors.New("no Tracks element before the first cluster")
	}
	return nil
}

// ebmlChildren splits an in-memory master element into id -> payloads.
func ebmlChildren(b []byte) map[uint32][][]byte {
	out := map[uint32][][]byte{}
	for p := 0; p < len(b); {
		id, idLen, ok := ebmlVint(b[p:], true)
		if !ok || idLen > 4 {
			return out
		}
		size, sizeLen, ok := ebmlVint(b[p+idLen:], false)
		if !ok || size < 0 || size > int64(len(b)-p-idLen-sizeLen) {
			return out
		}
		start := p + idLen + sizeLen
		out[uint32(id)] = append(out[uint32(id)], b[start:start+int(size)])
		p = start + int(size)
	}
	return out
}

func ebmlUint(b []byte) uint64 {
	var v uint64
	for _, c := range b[:min(len(b), 8)] {
		v = v<<8 | uint64(c)
	}
	return v
}

func ebmlFloat(b []byte) float64 {
	switch len(b) {
	case 4:
		return float64(math.Float32frombits(binary.BigEndian.Uint32(b)))
	case 8:
		return math.Float64frombits(binary.BigEndian.Uint64(b))
	}
	return 0
}

// first returns the first payload of id, or nil.
func first(elements map[uint32][][]byte, id uint32) []byte {
	if values := elements[id]; len(values) > 0 {
		return values[0]
	}
	return nil
}

// matroskaInfo reads Info: the timecode scale, duration, date and title.
func matroskaInfo(payload []byte, m *Metadata) (scale uint64, duration float64) {
	info := ebmlChildren(payload)
	scale = 1000000
	if v := first(info, mkvTimecodeScale); v != nil {
		scale = ebmlUint(v)
	}
	duration = ebmlFloat(first(info, mkvDuration))
	if v := first(info, mkvDateUTC); len(v) == 8 {
		when := mkvEpoch.Add(time.Duration(int64(binary.BigEndian.Uint64(v))))
		m.CreationTimeUTC = when.Format(utcLayout)
	}
	m.Title = string(first(info, mkvTitle))
	return scale, duration
}

// matroskaTracks reads the first video and first audio track.
func matroskaTracks(payload []byte, m *Metadata) {
	haveVideo, haveAudio := false, false
	for _, entry := range ebmlChildren(payload)[mkvTrackEntry] {
		track := ebmlChildren(entry)
		codecID := string(first(track, mkvCodecID))
		codec := matroskaCodecs[codecID]
		if codec == "" {
			codec = codecID
		}

		switch ebmlUint(first(track, mkvTrackType)) {
		case 1:
			if haveVideo {
				continue
			}
			haveVideo = true
			m.VideoCodec = codec
			video := ebmlChildren(first(track, mkvVideo))
			m.Width = int(ebmlUint(first(video, mkvPixelWidth)))
			m.Height = int(ebmlUint(first(video, mkvPixelHeight)))
			if d := ebmlUint(first(track, mkvDefaultDur)); d > 0 {
				m.FrameRate = roundTo(1e9/float64(d), 3)
			}
		case 2:
			if haveAudio {
				continue
			}
			haveAudio = true
			m.AudioCodec = codec
			audio := ebmlChildren(first(track, mkvAudio))
			m.SampleRate = int(ebmlFloat(first(audio, mkvSamplingFreq)))
			m.Channels = int(ebmlUint(first(audio, mkvChannels)))
			if m.Channels == 0 {
				m.Channels = 1
			}
		}
	}
	if !haveVideo && haveAudio {
		m.Kind = KindAudio
	}
}
