package hooks

import (
	"mime"
	"strings"

	"github.com/gabriel-vasile/mimetype"
)

// emptyType is the sniffed type of a zero-byte object; the detector would
// call it text/plain.
const emptyType = "application/x-empty"

// documentTypes are non-text media types indexed as documents.
var documentTypes = map[string]bool{
	"application/pdf":               true,
	"application/rtf":               true,
	"application/epub+zip":          true,
	"application/msword":            true,
	"application/vnd.ms-excel":      true,
	"application/vnd.ms-powerpoint": true,
	"application/json":              true,
	"application/xml":               true,
}

// sniffType detects the media type from an object's first bytes.
func sniffType(head []byte, size int64) string {
	if size == 0 {
		return emptyType
	}
	detected := mimetype.Detect(head).String()
	mediaType, _, err := mime.ParseMediaType(detected)
	if err != nil {
		return detected
	}
	return mediaType
}

// classify gives the coarse kind of an object from its sniffed type, and
// from the declared type only when the bytes said nothing specific.
func classify(sniffed, declared string) string {
	if kind := kindOf(sniffed); kind != "other" {
		return kind
	}
	if sniffed == "" || sniffed == "application/octet-stream" {
		declaredType, _, _ := mime.ParseMediaType(declared)
		return kindOf(declaredType)
	}
	return "other"
}

func kindOf(mediaType string) string {
	switch {
	case mediaType == "" || mediaType == emptyType:
		return "other"
	case strings.HasPrefix(mediaType, "image/"):
		return "image"
	case strings.HasPrefix(mediaType, "video/"):
		return "video"
	case strings.HasPrefix(mediaType, "audio/"):
		return "audio"
	case strings.HasPrefix(mediaType, "text/"),
		documentTypes[mediaType],
		strings.HasPrefix(mediaType, "application/vnd.openxmlformats-officedocument."),
		strings.HasPrefix(mediaType, "application/vnd.oasis.opendocument."):
		return "document"
	}
	return "other"
}
