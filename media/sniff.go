package media

import (
	"bytes"
	"encoding/binary"
)

// format is one content type Probe understands.
type format struct {
	name  string
	kind  string
	probe func(r *reader, m *Metadata) error
}

// sniff names the format from the first bytes, or returns nil. The content
// decides, never the file name: uploads are often misnamed.
func sniff(head []byte) *format {
	switch {
	case bytes.HasPrefix(head, []byte{0xFF, 0xD8, 0xFF}):
		return &format{"jpeg", KindImage, probeJPEG}
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return &format{"png", KindImage, probePNG}
	case bytes.HasPrefix(head, []byte("GIF87a")), bytes.HasPrefix(head, []byte("GIF89a")):
		return &format{"gif", KindImage, probeGIF}
	case len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return &format{"webp", KindImage, probeWebP}
	case len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == "WAVE":
		return &format{"wav", KindAudio, probeWAV}
	case bytes.HasPrefix(head, []byte("II*\x00")), bytes.HasPrefix(head, []byte("MM\x00*")):
		return &format{"tiff", KindImage, probeTIFFFile}
	case bytes.HasPrefix(head, []byte{0x1A, 0x45, 0xDF, 0xA3}):
		return &format{"matroska", KindVideo, probeMatroska}
	case bytes.HasPrefix(head, []byte("fLaC")):
		return &format{"flac", KindAudio, probeFLAC}
	case bytes.HasPrefix(head, []byte("ID3")), isMP3Sync(head):
		return &format{"mp3", KindAudio, probeMP3}
	case len(head) >= 12 && string(head[4:8]) == "ftyp":
		return sniffISOBMFF(head)
	}
	return nil
}

// sniffISOBMFF tells HEIF images from MP4/QuickTime movies by the brands.
func sniffISOBMFF(head []byte) *format {
	size := int(binary.BigEndian.Uint32(head))
	brands := head[8:min(len(head), max(size, 16))]
	for i := 0; i+4 <= len(brands); i += 4 {
		switch string(brands[i : i+4]) {
		case "heic", "heix", "heim", "heis", "mif1", "msf1":
			if i == 0 || !hasBrand(brands, "qt  ", "isom", "mp41", "mp42") {
				return &format{"heic", KindImage, probeHEIF}
			}
		case "avif", "avis":
			return &format{"avif", KindImage, probeHEIF}
		}
	}

	switch string(head[8:12]) {
	case "qt  ":
		return &format{"mov", KindVideo, probeMP4}
	case "M4A ", "M4B ", "M4P ":
		return &format{"m4a", KindAudio, probeMP4}
	}
	return &format{"mp4", KindVideo, probeMP4}
}

func hasBrand(brands []byte, names ...string) bool {
	for i := 0; i+4 <= len(brands); i += 4 {
		for _, name := range names {
			if string(brands[i:i+4]) == name {
				return true
			}
		}
	}
	return false
}

// isMP3Sync accepts a bare MPEG audio frame header (no ID3 tag).
func isMP3Sync(head []byte) bool {
	if len(head) < 4 {
		return false
	}
	_, ok := parseMP3Header(head[:4])
	return ok
}
