// Package media reads metadata and makes thumbnails for the images, videos
// and audio files that arrow-mino indexes. Everything is read through range
// reads of a Source under a time bound and a read budget, so a corrupt or
// hostile object costs little and never crashes the caller.
package media

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"
)

const (
	// DefaultProbeTimeout bounds one Probe call.
	DefaultProbeTimeout = 10 * time.Second

	// DefaultReadBudget bounds the bytes one Probe call reads. A moov box
	// of a long video is a few MiB; EXIF is at most a few hundred KiB.
	DefaultReadBudget = 32 << 20
)

// Kinds of media, matching the objects collection's kind values.
const (
	KindImage = "image"
	KindVideo = "video"
	KindAudio = "audio"
)

// Metadata is what Probe found. JSON names equal the column names of the
// objects collection; zero values mean "not known" and are left out.
type Metadata struct {
	Format string `json:"format,omitempty"`
	Kind   string `json:"kind,omitempty"`

	// Width and Height are the stored pixel size from the image or video
	// headers, before any rotation; never from EXIF.
	Width  int `json:"width,omitempty"`
	Height int `json:"height,omitempty"`

	// Orientation is the EXIF Orientation tag (1-8).
	Orientation int `json:"orientation,omitempty"`

	// DisplayWidth and DisplayHeight apply EXIF orientation, HEIF irot or
	// the video rotation matrix.
	DisplayWidth  int `json:"display_width,omitempty"`
	DisplayHeight int `json:"display_height,omitempty"`

	Make         string  `json:"make,omitempty"`
	Model        string  `json:"model,omitempty"`
	Lens         string  `json:"lens,omitempty"`
	ISO          int     `json:"iso,omitempty"`
	ExposureTime float64 `json:"exposure_time,omitempty"`
	FNumber      float64 `json:"f_number,omitempty"`
	FocalLength  float64 `json:"focal_length,omitempty"`

	// TakenAtLocal is the camera's wall clock ("2006-01-02T15:04:05" plus
	// the sub-second digits as written), with no zone.
	TakenAtLocal string `json:"taken_at_local,omitempty"`

	// TakenAtOffset is the zone offset of TakenAtLocal ("+03:00"), or ""
	// when unknown.
	TakenAtOffset string `json:"taken_at_offset,omitempty"`

	// TakenAtOffsetSource says where the offset came from:
	// "OffsetTimeOriginal", "IPTC", "XMP", "GPS" or "".
	TakenAtOffsetSource string `json:"taken_at_offset_source,omitempty"`

	// TakenAtUTC is set only when the offset is known
	// ("2006-01-02T15:04:05.000Z").
	TakenAtUTC string `json:"taken_at_utc,omitempty"`

	// GPS in signed decimal degrees and metres; nil when absent or unusable.
	GPSLat *float64 `json:"gps_lat,omitempty"`
	GPSLon *float64 `json:"gps_lon,omitempty"`
	GPSAlt *float64 `json:"gps_alt,omitempty"`

	// Duration in seconds.
	Duration float64 `json:"duration,omitempty"`

	// Container uses ffprobe's format names ("mov,mp4,m4a,3gp,3g2,mj2").
	Container string `json:"container,omitempty"`

	// Codecs use ffprobe's codec names ("h264", "aac").
	VideoCodec string  `json:"video_codec,omitempty"`
	AudioCodec string  `json:"audio_codec,omitempty"`
	FrameRate  float64 `json:"frame_rate,omitempty"`
	SampleRate int     `json:"sample_rate,omitempty"`
	Channels   int     `json:"channels,omitempty"`

	Title  string `json:"title,omitempty"`
	Artist string `json:"artist,omitempty"`
	Album  string `json:"album,omitempty"`

	// CreationTimeUTC is a container's creation instant (MP4 mvhd,
	// Matroska DateUTC), "2006-01-02T15:04:05.000Z".
	CreationTimeUTC string `json:"creation_time_utc,omitempty"`

	// ExtractError is a readable account of what went wrong; whatever was
	// read before the error is kept in the other fields.
	ExtractError string `json:"extract_error,omitempty"`

	// gpsTime is the GPS receiver's UTC clock, used to derive an offset.
	gpsTime time.Time

	// iptcTaken and xmpTaken are capture times used when EXIF has none.
	iptcTaken, xmpTaken takenAt
}

// utcLayout is how instants are written: UTC with milliseconds, which both
// JSON readers and PocketBase date fields accept.
const utcLayout = "2006-01-02T15:04:05.000Z"

// Limits bound one probe.
type Limits struct {
	// Timeout bounds the whole probe; zero means DefaultProbeTimeout.
	Timeout time.Duration

	// ReadBudget bounds the bytes read; zero means DefaultReadBudget.
	ReadBudget int64
}

// Probe reads the metadata of src with the default limits. name is only
// used as a hint (the content decides the format). It never panics: any
// failure ends up in ExtractError next to what could be read.
func Probe(ctx context.Context, src Source, name string) Metadata {
	return ProbeWithLimits(ctx, src, name, Limits{})
}

// ProbeWithLimits is Probe with explicit limits.
func ProbeWithLimits(ctx context.Context, src Source, name string, limits Limits) (meta Metadata) {
	if limits.Timeout <= 0 {
		limits.Timeout = DefaultProbeTimeout
	}
	if limits.ReadBudget <= 0 {
		limits.ReadBudget = DefaultReadBudget
	}
	ctx, cancel := context.WithTimeout(ctx, limits.Timeout)
	defer cancel()

	// Parsers index into bytes taken from the file; a bug there must cost
	// one object's metadata, not the process.
	defer func() {
		if v := recover(); v != nil {
			meta.addError(fmt.Errorf("parser panic: %v (%s)", v, firstFrames(debug.Stack())))
		}
	}()

	if src == nil || src.Size() == 0 {
		meta.addError(errors.New("empty file (0 bytes)"))
		return meta
	}

	r := newReader(ctx, src, limits.ReadBudget)
	head, err := r.bytesAt(0, min(r.size, 64))
	if err != nil {
		meta.addError(fmt.Errorf("read header: %w", err))
		return meta
	}

	format := sniff(head)
	if format == nil {
		meta.addError(fmt.Errorf("unrecognised content (first bytes % x)", head[:min(len(head), 8)]))
		return meta
	}
	meta.Format = format.name
	meta.Kind = format.kind
	if err := format.probe(r, &meta); err != nil {
		meta.addError(fmt.Errorf("read %s: %w", format.name, err))
	}

	meta.finish()
	return meta
}

// addError appends err to ExtractError, keeping earlier messages.
func (m *Metadata) addError(err error) {
	if err == nil {
		return
	}
	// errors.Join separates with newlines; one line reads better in a column.
	text := strings.ReplaceAll(err.Error(), "\n", "; ")
	if m.ExtractError == "" {
		m.ExtractError = text
		return
	}
	m.ExtractError += "; " + text
}

// finish fills fields derived from others once every parser has run.
func (m *Metadata) finish() {
	if m.DisplayWidth == 0 && m.DisplayHeight == 0 && m.Width > 0 {
		m.DisplayWidth, m.DisplayHeight = m.Width, m.Height
		if m.Orientation >= 5 && m.Orientation <= 8 {
			m.DisplayWidth, m.DisplayHeight = m.Height, m.Width
		}
	}
	m.Make = cleanText(m.Make)
	m.Model = cleanText(m.Model)
	m.Lens = cleanText(m.Lens)
	applyFallbackTimes(m)
	finishTakenAt(m)
}

// cleanText trims the NULs and padding cameras leave in strings.
func cleanText(s string) string {
	return strings.TrimSpace(strings.Trim(s, "\x00 "))
}

// firstFrames keeps the few stack lines that locate a panic.
func firstFrames(stack []byte) string {
	lines := strings.Split(string(stack), "\n")
	var keep []string
	for _, line := range lines {
		if strings.Contains(line, "/media/") && strings.HasPrefix(line, "\t") {
			keep = append(keep, strings.TrimSpace(line))
		}
		if len(keep) == 3 {
			break
		}
	}
	return strings.Join(keep, " <- ")
}
