package media

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"time"
)

// mp4Epoch is the zero of MP4 and QuickTime times: 1904-01-01 UTC.
var mp4Epoch = time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)

// sampleEntryCodecs maps sample entry types to ffprobe codec names.
var sampleEntryCodecs = map[string]string{
	"avc1": "h264", "avc3": "h264", "hvc1": "hevc", "hev1": "hevc", "dvh1": "hevc",
	"dvhe": "hevc", "av01": "av1", "vp09": "vp9", "vp08": "vp8", "mp4v": "mpeg4",
	"jpeg": "mjpeg", "mjpa": "mjpeg", "apch": "prores", "apcn": "prores", "apcs": "prores",
	"apco": "prores", "ap4h": "prores", "s263": "h263", "h263": "h263",
	"mp4a": "aac", ".mp3": "mp3", "ac-3": "ac3", "ec-3": "eac3", "Opus": "opus",
	"fLaC": "flac", "alac": "alac", "samr": "amr_nb", "sawb": "amr_wb",
	"sowt": "pcm_s16le", "twos": "pcm_s16be", "lpcm": "pcm_s16le", "ulaw": "pcm_mulaw",
}

// iso6709Pattern reads "+DD.DDDD+DDD.DDDD[+AAA.A]/" as QuickTime ©xyz and
// Apple location keys write it.
var iso6709Pattern = regexp.MustCompile(`^([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)?`)

// mp4Track is what one trak box says.
type mp4Track struct {
	id         uint32
	handler    string
	codec      string
	width      int
	height     int
	rotation   int
	timescale  uint32
	duration   uint64
	samples    uint64
	sampleTime uint64
	sampleRate int
	channels   int
}

// probeMP4 reads the moov box wherever it is (its header is found by
// skipping over mdat, so a moov at the end costs one more range read).
func probeMP4(r *reader, m *Metadata) error {
	m.Container = "mov,mp4,m4a,3gp,3g2,mj2"
	boxes, walkErr := topBoxes(r)
	moovBox, ok := findTop(boxes, "moov")
	if !ok {
		return errors.Join(walkErr, errors.New("no moov box"))
	}
	moov, err := loadBox(r, moovBox)
	if err != nil {
		return errors.Join(walkErr, fmt.Errorf("read moov: %w", err))
	}
	kids, childErr := children(moov)
	var errs = []error{walkErr, childErr}
	if mvhd, ok := find(kids, "mvhd"); ok {
		mp4MovieHeader(mvhd.data, m)
	}

	var tracks []mp4Track
	for _, kid := range kids {
		if kid.typ == "trak" {
			tracks = append(tracks, mp4ReadTrack(kid.data))
		}
	}
	mp4ApplyTracks(tracks, m)

	if _, fragmented := findTop(boxes, "moof"); fragmented {
		timings := map[uint32]trackTiming{}
		for _, t := range tracks {
			timings[t.id] = trackTiming{timescale: t.timescale}
		}
		seconds, err := fragmentedDuration(r, boxes, moov, timings)
		if err != nil {
			errs = append(errs, fmt.Errorf("fragmented MP4 duration: %w", err))
		}
		m.Duration = max(m.Duration, seconds)
	}

	if xyz, ok := path(moov, "udta", "\xa9xyz"); ok && len(xyz) > 4 {
		applyISO6709(string(xyz[4:]), m)
	}
	return errors.Join(errs...)
}

// mp4MovieHeader reads mvhd: creation time and duration.
func mp4MovieHeader(data []byte, m *Metadata) {
	c := cursor{b: data}
	version := c.u8()
	c.take(3)
	var created, duration uint64
	var timescale uint32
	if version == 1 {
		created = c.u64()
		c.u64()
		timescale = c.u32()
		duration = c.u64()
	} else {
		created = uint64(c.u32())
		c.u32()
		timescale = c.u32()
		duration = uint64(c.u32())
	}
	if c.short {
		return
	}

	if timescale > 0 && duration > 0 && duration != math.MaxUint32 && duration != math.MaxUint64 {
		m.Duration = float64(duration) / float64(timescale)
	}
	// Zero means "not set"; before 1970 is a camera whose clock was never set
	// or that wrote Unix seconds.
	if created > 0 && created < 1<<40 {
		when := mp4Epoch.Add(time.Duration(created) * time.Second)
		if when.Year() >= 1970 {
			m.CreationTimeUTC = when.Format(utcLayout)
		}
	}
}

// mp4ReadTrack reads one trak: handler, codec, size, rotation, timing.
func mp4ReadTrack(trak []byte) mp4Track {
	var t mp4Track
	if tkhd, ok := path(trak, "tkhd"); ok {
		t.rotation = mp4Rotation(tkhd)
		c := cursor{b: tkhd}
		if c.u8() == 1 {
			c.take(3 + 16)
		} else {
			c.take(3 + 8)
		}
		t.id = c.u32()
	}
	mdia, _ := path(trak, "mdia")
	if hdlr, ok := path(mdia, "hdlr"); ok && len(hdlr) >= 12 {
		t.handler = string(hdlr[8:12])
	}
	if mdhd, ok := path(mdia, "mdhd"); ok {
		c := cursor{b: mdhd}
		if c.u8() == 1 {
			c.take(3 + 16)
			t.timescale = c.u32()
			t.duration = c.u64()
		} else {
			c.take(3 + 8)
			t.timescale = c.u32()
			t.duration = uint64(c.u32())
		}
	}

	stbl, _ := path(mdia, "minf", "stbl")
	if stsd, ok := path(stbl, "stsd"); ok && len(stsd) >= 8 {
		entries, _ := children(stsd[8:])
		if len(entries) > 0 {
			mp4SampleEntry(entries[0], &t)
		}
	}
	if stts, ok := path(stbl, "stts"); ok {
		c := cursor{b: stts}
		c.take(4)
		n := c.u32()
		for i := uint32(0); i < n && !c.short; i++ {
			count, delta := uint64(c.u32()), uint64(c.u32())
			t.samples += count
			t.sampleTime += count * delta
		}
	}
	return t
}

// mp4SampleEntry reads codec, size or audio format from a sample entry.
func mp4SampleEntry(entry child, t *mp4Track) {
	t.codec = sampleEntryCodecs[entry.typ]
	if t.codec == "" {
		t.codec = entry.typ
	}
	c := cursor{b: entry.data}
	c.take(8)
	switch t.handler {
	case "vide":
		c.take(16)
		t.width, t.height = int(c.u16()), int(c.u16())
	case "soun":
		version := c.u16()
		c.take(6)
		t.channels = int(c.u16())
		c.take(6)
		t.sampleRate = int(c.u32() >> 16)
		if version == 2 {
			// QuickTime v2 moves the real values after the fixed part.
			c.take(4)
			rate := math.Float64frombits(c.u64())
			t.channels = int(c.u32())
			if rate > 0 && rate < 1e7 {
				t.sampleRate = int(rate)
			}
		}
	}
	if c.short {
		t.width, t.height = 0, 0
	}
}

// mp4Rotation reads tkhd's display matrix as clockwise degrees.
func mp4Rotation(tkhd []byte) int {
	c := cursor{b: tkhd}
	if c.u8() == 1 {
		c.take(3 + 32)
	} else {
		c.take(3 + 20)
	}
	c.take(16)
	a, b := int32(c.u32()), int32(c.u32())
	c.u32()
	if c.short {
		return 0
	}
	degrees := int(math.Round(math.Atan2(float64(b), float64(a)) * 180 / math.Pi))
	return (degrees + 360) % 360
}

// mp4ApplyTracks fills the first video and first audio track's fields.
func mp4ApplyTracks(tracks []mp4Track, m *Metadata) {
	haveVideo, haveAudio := false, false
	longest := 0.0
	for _, t := range tracks {
		if t.timescale > 0 {
			longest = max(longest, float64(t.duration)/float64(t.timescale))
		}
		switch {
		case t.handler == "vide" && !haveVideo:
			haveVideo = true
			m.VideoCodec = t.codec
			m.Width, m.Height = t.width, t.height
			m.DisplayWidth, m.DisplayHeight = t.width, t.height
			if t.rotation == 90 || t.rotation == 270 {
				m.DisplayWidth, m.DisplayHeight = t.height, t.width
			}
			if t.samples > 0 && t.sampleTime > 0 && t.timescale > 0 {
				m.FrameRate = roundTo(float64(t.samples)*float64(t.timescale)/float64(t.sampleTime), 3)
			}
		case t.handler == "soun" && !haveAudio:
			haveAudio = true
			m.AudioCodec = t.codec
			m.SampleRate, m.Channels = t.sampleRate, t.channels
			if m.SampleRate == 0 {
				m.SampleRate = int(t.timescale)
			}
		}
	}
	if m.Duration == 0 {
		m.Duration = longest
	}
	if !haveVideo && haveAudio {
		m.Kind = KindAudio
	}
}

// applyISO6709 sets GPS from an ISO 6709 string in decimal degrees.
func applyISO6709(s string, m *Metadata) {
	parts := iso6709Pattern.FindStringSubmatch(s)
	if parts == nil {
		return
	}
	lat, err1 := strconv.ParseFloat(parts[1], 64)
	lon, err2 := strconv.ParseFloat(parts[2], 64)
	if err1 != nil || err2 != nil || math.Abs(lat) > 90 || math.Abs(lon) > 180 || (lat == 0 && lon == 0) {
		return
	}
	m.GPSLat, m.GPSLon = &lat, &lon
	if parts[3] != "" {
		if alt, err := strconv.ParseFloat(parts[3], 64); err == nil {
			m.GPSAlt = &alt
		}
	}
}

func roundTo(v float64, digits int) float64 {
	scale := math.Pow(10, float64(digits))
	return math.Round(v*scale) / scale
}
