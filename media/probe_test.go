package media

import (
	"context"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func ptr(v float64) *float64 { return &v }

// probeTestdata probes a file in testdata.
func probeTestdata(t *testing.T, name string) Metadata {
	t.Helper()
	return probePath(t, filepath.Join("testdata", name))
}

func TestProbeFiles(t *testing.T) {
	scenarios := []struct {
		file string
		want Metadata
	}{
		{"canon_eos40d.jpg", Metadata{
			Format: "jpeg", Kind: "image", Width: 100, Height: 68, Orientation: 1,
			DisplayWidth: 100, DisplayHeight: 68, Make: "Canon", Model: "Canon EOS 40D",
			ISO: 100, ExposureTime: 0.00625, FNumber: 7.1, FocalLength: 135,
			TakenAtLocal: "2008-05-30T15:56:01.00",
		}},
		{"kodak_cx7530_gps_south.jpg", Metadata{
			Format: "jpeg", Kind: "image", Width: 100, Height: 78, Orientation: 1,
			DisplayWidth: 100, DisplayHeight: 78, Make: "EASTMAN KODAK COMPANY",
			Model: "KODAK CX7530 ZOOM DIGITAL CAMERA", ExposureTime: 0.004, FNumber: 4.6,
			FocalLength: 16.8, TakenAtLocal: "2005-08-13T09:47:23",
			GPSLat: ptr(-0.3713), GPSLon: ptr(36.0564166666667),
		}},
		{"gps_dst_offset_thompson_springs.jpg", Metadata{
			Format: "jpeg", Kind: "image", Width: 150, Height: 103, Orientation: 1,
			DisplayWidth: 150, DisplayHeight: 103, TakenAtLocal: "2022-01-10T15:15:44",
			TakenAtOffset: "-04:00", TakenAtOffsetSource: "IPTC", TakenAtUTC: "2022-01-10T19:15:44.000Z",
			GPSLat: ptr(39.115), GPSLon: ptr(-108.400968333333), GPSAlt: ptr(1483.9),
		}},
		{"orientation_landscape_6.jpg", Metadata{
			Format: "jpeg", Kind: "image", Width: 450, Height: 600, Orientation: 6,
			DisplayWidth: 600, DisplayHeight: 450,
		}},
		{"canon_ztxt_metadata.png", Metadata{
			Format: "png", Kind: "image", Width: 1200, Height: 1200, Orientation: 1,
			DisplayWidth: 1200, DisplayHeight: 1200, TakenAtLocal: "2017-08-04T06:07:09",
		}},
		{"one_pixel.gif", Metadata{Format: "gif", Kind: "image", Width: 1, Height: 1, DisplayWidth: 1, DisplayHeight: 1}},
		{"lossy_simple.webp", Metadata{Format: "webp", Kind: "image", Width: 1024, Height: 640, DisplayWidth: 1024, DisplayHeight: 640}},
		{"animated.webp", Metadata{Format: "webp", Kind: "image", Width: 500, Height: 360, DisplayWidth: 500, DisplayHeight: 360}},
		{"hevc.mp4", Metadata{
			Format: "mp4", Kind: "video", Width: 640, Height: 360, DisplayWidth: 640, DisplayHeight: 360,
			Duration: 1.12, Container: "mov,mp4,m4a,3gp,3g2,mj2", VideoCodec: "hevc", AudioCodec: "aac",
			FrameRate: 25, SampleRate: 44100, Channels: 2,
		}},
		{"h264_vorbis.mkv", Metadata{
			Format: "matroska", Kind: "video", Width: 480, Height: 270, DisplayWidth: 480, DisplayHeight: 270,
			Duration: 5.003, Container: "matroska,webm", VideoCodec: "h264", AudioCodec: "vorbis",
			FrameRate: 30, SampleRate: 48000, Channels: 2,
		}},
		{"id3v24.mp3", Metadata{
			Format: "mp3", Kind: "audio", Duration: 3.448125, Container: "mp3", AudioCodec: "mp3",
			SampleRate: 44100, Channels: 2, Title: "Test Title", Artist: "Test Artist", Album: "Test Album",
		}},
		{"tagged.flac", Metadata{
			Format: "flac", Kind: "audio", Duration: 3.399365, Container: "flac", AudioCodec: "flac",
			SampleRate: 11025, Channels: 1, Title: "Test Title", Artist: "Test Artist", Album: "Test Album",
		}},
	}

	for _, s := range scenarios {
		t.Run(s.file, func(t *testing.T) {
			got := probeTestdata(t, s.file)
			if diff := diffMetadata(s.want, got); diff != "" {
				t.Errorf("%s", diff)
			}
		})
	}
}

// diffMetadata lists differing fields; floats compare to 1e-6 relative.
func diffMetadata(want, got Metadata) string {
	var out []string
	add := func(name string, ok bool, w, g any) {
		if !ok {
			out = append(out, name+": want "+fmtAny(w)+", got "+fmtAny(g))
		}
	}
	near := func(a, b float64) bool { return a == b || (a-b)*(a-b) <= 1e-12*max(1, a*a) }
	nearPtr := func(a, b *float64) bool { return (a == nil) == (b == nil) && (a == nil || near(*a, *b)) }

	add("format", want.Format == got.Format, want.Format, got.Format)
	add("kind", want.Kind == got.Kind, want.Kind, got.Kind)
	add("size", want.Width == got.Width && want.Height == got.Height, [2]int{want.Width, want.Height}, [2]int{got.Width, got.Height})
	add("display", want.DisplayWidth == got.DisplayWidth && want.DisplayHeight == got.DisplayHeight,
		[2]int{want.DisplayWidth, want.DisplayHeight}, [2]int{got.DisplayWidth, got.DisplayHeight})
	add("orientation", want.Orientation == got.Orientation, want.Orientation, got.Orientation)
	add("camera", want.Make == got.Make && want.Model == got.Model && want.Lens == got.Lens,
		[]string{want.Make, want.Model, want.Lens}, []string{got.Make, got.Model, got.Lens})
	add("iso", want.ISO == got.ISO, want.ISO, got.ISO)
	add("exposure", near(want.ExposureTime, got.ExposureTime) && near(want.FNumber, got.FNumber) && near(want.FocalLength, got.FocalLength),
		[]float64{want.ExposureTime, want.FNumber, want.FocalLength}, []float64{got.ExposureTime, got.FNumber, got.FocalLength})
	add("taken_at", want.TakenAtLocal == got.TakenAtLocal && want.TakenAtOffset == got.TakenAtOffset &&
		want.TakenAtOffsetSource == got.TakenAtOffsetSource && want.TakenAtUTC == got.TakenAtUTC,
		[]string{want.TakenAtLocal, want.TakenAtOffset, want.TakenAtOffsetSource, want.TakenAtUTC},
		[]string{got.TakenAtLocal, got.TakenAtOffset, got.TakenAtOffsetSource, got.TakenAtUTC})
	add("gps", nearPtr(want.GPSLat, got.GPSLat) && nearPtr(want.GPSLon, got.GPSLon) && nearPtr(want.GPSAlt, got.GPSAlt),
		[]*float64{want.GPSLat, want.GPSLon, want.GPSAlt}, []*float64{got.GPSLat, got.GPSLon, got.GPSAlt})
	add("duration", near(want.Duration, got.Duration), want.Duration, got.Duration)
	add("av", want.Container == got.Container && want.VideoCodec == got.VideoCodec && want.AudioCodec == got.AudioCodec &&
		near(want.FrameRate, got.FrameRate) && want.SampleRate == got.SampleRate && want.Channels == got.Channels,
		[]any{want.Container, want.VideoCodec, want.AudioCodec, want.FrameRate, want.SampleRate, want.Channels},
		[]any{got.Container, got.VideoCodec, got.AudioCodec, got.FrameRate, got.SampleRate, got.Channels})
	add("tags", want.Title == got.Title && want.Artist == got.Artist && want.Album == got.Album,
		[]string{want.Title, want.Artist, want.Album}, []string{got.Title, got.Artist, got.Album})
	add("creation_time_utc", want.CreationTimeUTC == got.CreationTimeUTC, want.CreationTimeUTC, got.CreationTimeUTC)
	add("extract_error", want.ExtractError == got.ExtractError, want.ExtractError, got.ExtractError)
	return strings.Join(out, "\n")
}

func TestProbeCorruptInputs(t *testing.T) {
	jpegData, err := os.ReadFile(filepath.Join("testdata", "canon_eos40d.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	mp4Data, err := os.ReadFile(filepath.Join("testdata", "hevc.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	random := make([]byte, 4096)
	rand.New(rand.NewSource(1)).Read(random)

	scenarios := []struct {
		name      string
		data      []byte
		wantError string
		check     func(t *testing.T, m Metadata)
	}{
		{"zero bytes", nil, "empty file", nil},
		{"random bytes", random, "unrecognised content", nil},
		{"jpeg cut in EXIF", jpegData[:300], "needs", func(t *testing.T, m Metadata) {
			if m.Kind != "image" || m.Format != "jpeg" {
				t.Errorf("want kind image/jpeg kept, got %q/%q", m.Kind, m.Format)
			}
		}},
		{"jpeg cut inside its EXIF thumbnail", jpegData[:len(jpegData)/2], "unexpected EOF", func(t *testing.T, m Metadata) {
			if m.Model != "Canon EOS 40D" || m.TakenAtLocal == "" {
				t.Errorf("want tags before the cut kept, got %q %q", m.Model, m.TakenAtLocal)
			}
		}},
		{"mp4 cut in half", mp4Data[:len(mp4Data)/2], "", nil},
		{"jpeg header only", []byte{0xFF, 0xD8, 0xFF}, "read segment", nil},
		{"EXIF loop", exifLoop(), "directory loop", func(t *testing.T, m Metadata) {
			if m.Make != "Loop" {
				t.Errorf("want make read before the loop, got %q", m.Make)
			}
		}},
		{"huge entry count", exifHugeCount(), "claims 65535 entries", nil},
	}

	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			got := Probe(context.Background(), BytesSource(s.data), s.name)
			if !strings.Contains(got.ExtractError, s.wantError) || (s.wantError != "" && got.ExtractError == "") {
				t.Errorf("extract_error %q does not contain %q", got.ExtractError, s.wantError)
			}
			if s.check != nil {
				s.check(t, got)
			}
		})
	}
}

func TestProbeGoexifLoopFile(t *testing.T) {
	got := probeTestdata(t, "goexif_infinite_loop_exif.jpg")
	if got.Width != 8 || got.Height != 8 {
		t.Errorf("want 8x8, got %dx%d", got.Width, got.Height)
	}
}

// exifJPEG wraps a big-endian TIFF block in a minimal JPEG.
func exifJPEG(tiff []byte) []byte {
	payload := append([]byte("Exif\x00\x00"), tiff...)
	n := len(payload) + 2
	out := []byte{0xFF, 0xD8, 0xFF, 0xE1, byte(n >> 8), byte(n)}
	out = append(out, payload...)
	return append(out, 0xFF, 0xD9)
}

// exifLoop is IFD0 with Make and an Exif IFD pointer back to IFD0.
func exifLoop() []byte {
	tiff := []byte{'M', 'M', 0, 42, 0, 0, 0, 8,
		0, 2,
		0x01, 0x0F, 0, 2, 0, 0, 0, 4, 'L', 'o', 'o', 'p',
		0x87, 0x69, 0, 4, 0, 0, 0, 1, 0, 0, 0, 8,
		0, 0, 0, 0}
	// "Loop" is 4 bytes with no NUL: kept inline in the entry.
	return exifJPEG(tiff)
}

// exifHugeCount is IFD0 claiming 65535 entries.
func exifHugeCount() []byte {
	return exifJPEG([]byte{'M', 'M', 0, 42, 0, 0, 0, 8, 0xFF, 0xFF, 0, 0})
}

// slowSource delays every read, to test the time bound.
type slowSource struct{ BytesSource }

func (s slowSource) ReadAt(p []byte, off int64) (int, error) {
	time.Sleep(30 * time.Millisecond)
	return s.BytesSource.ReadAt(p, off)
}

func TestProbeLimits(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "hevc.mp4"))
	if err != nil {
		t.Fatal(err)
	}

	got := ProbeWithLimits(context.Background(), BytesSource(data), "x.mp4", Limits{ReadBudget: 1000})
	if !strings.Contains(got.ExtractError, "read budget") {
		t.Errorf("want a budget error, got %q", got.ExtractError)
	}

	// A large source where every block read is slow: the probe must stop.
	big := make([]byte, 64<<20)
	copy(big, data[:64])
	started := time.Now()
	got = ProbeWithLimits(context.Background(), slowSource{BytesSource(big)}, "x.mp4", Limits{Timeout: 100 * time.Millisecond})
	if elapsed := time.Since(started); elapsed > time.Second {
		t.Errorf("probe took %s with a 100ms bound", elapsed)
	}
	if got.ExtractError == "" {
		t.Errorf("want an error from a bounded slow probe")
	}
}

func TestProbeIgnoresLocalZone(t *testing.T) {
	saved := time.Local
	defer func() { time.Local = saved }()

	var first string
	for _, zone := range []string{"UTC", "Pacific/Kiritimati", "America/Adak"} {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Fatal(err)
		}
		time.Local = loc
		got := probeTestdata(t, "gps_dst_offset_thompson_springs.jpg")
		if first == "" {
			first = got.TakenAtUTC
		}
		if got.TakenAtUTC != first || first != "2022-01-10T19:15:44.000Z" {
			t.Errorf("%s: taken_at_utc %q, want 2022-01-10T19:15:44.000Z", zone, got.TakenAtUTC)
		}
	}
}

func TestOffsetFromGPS(t *testing.T) {
	local := time.Date(2020, 1, 24, 23, 11, 53, 0, time.UTC)
	gps := time.Date(2020, 1, 25, 2, 11, 51, 0, time.UTC)
	if got, ok := offsetFromGPS(local, gps); !ok || got != "-03:00" {
		t.Errorf("want -03:00, got %q %v", got, ok)
	}
	// A stale fix 10 minutes off a quarter hour gives no offset.
	if got, ok := offsetFromGPS(local, gps.Add(10*time.Minute)); ok {
		t.Errorf("want no offset, got %q", got)
	}
}

func FuzzProbe(f *testing.F) {
	for _, name := range []string{"canon_eos40d.jpg", "one_pixel.gif", "hevc.mp4", "tagged.flac"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data[:min(len(data), 4096)])
	}
	f.Add(exifLoop())
	f.Add(exifHugeCount())

	f.Fuzz(func(t *testing.T, data []byte) {
		got := ProbeWithLimits(context.Background(), BytesSource(data), "fuzz", Limits{Timeout: time.Second, ReadBudget: 1 << 20})
		if strings.Contains(got.ExtractError, "parser panic") {
			t.Fatalf("panic: %s", got.ExtractError)
		}
	})
}
