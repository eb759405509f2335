package media

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
)

// exifDateLayout is how EXIF writes DateTimeOriginal and GPSDateStamp.
const exifDateLayout = "2006:01:02 15:04:05"

// offsetPattern is a valid zone offset as EXIF OffsetTime* writes it.
var offsetPattern = regexp.MustCompile(`^[+-](0\d|1[0-4]):[0-5]\d$`)

// applyEXIF copies the kept tags into m. Dimensions are not taken from
// here: EXIF sizes are often stale after editing.
func applyEXIF(t *exifTags, m *Metadata) {
	if t == nil {
		return
	}

	m.Make = firstNonEmpty(m.Make, t.str(t.ifd0, tagMake))
	m.Model = firstNonEmpty(m.Model, t.str(t.ifd0, tagModel))
	m.Lens = firstNonEmpty(m.Lens, t.str(t.exif, tagLensModel))
	if o, ok := t.uint(t.ifd0, tagOrientation); ok && o >= 1 && o <= 8 && m.Orientation == 0 {
		m.Orientation = int(o)
	}

	if iso, ok := t.uint(t.exif, tagISO); ok && iso > 0 {
		m.ISO = int(iso)
	}
	if v, ok := t.rational(t.exif, tagExposureTime); ok && v > 0 {
		m.ExposureTime = v
	}
	if v, ok := t.rational(t.exif, tagFNumber); ok && v > 0 {
		m.FNumber = v
	}
	if v, ok := t.rational(t.exif, tagFocalLength); ok && v > 0 {
		m.FocalLength = v
	}

	applyEXIFDate(t, m)
	applyGPS(t, m)
}

// applyEXIFDate sets the capture time from DateTimeOriginal, its
// sub-seconds and OffsetTimeOriginal, read as written: no zone is assumed.
func applyEXIFDate(t *exifTags, m *Metadata) {
	local, ok := exifLocalTime(t.str(t.exif, tagDateTimeOriginal))
	if !ok || m.TakenAtLocal != "" {
		return
	}
	if sub := strings.TrimSpace(t.str(t.exif, tagSubSecTimeOrig)); isDigits(sub) {
		local += "." + sub
	}
	m.TakenAtLocal = local

	if offset := t.str(t.exif, tagOffsetTimeOrig); offsetPattern.MatchString(offset) {
		m.TakenAtOffset = offset
		m.TakenAtOffsetSource = "OffsetTimeOriginal"
	}
}

// exifLocalTime turns "2006:01:02 15:04:05" into "2006-01-02T15:04:05",
// refusing blank and impossible dates ("0000:00:00 00:00:00").
func exifLocalTime(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) < 19 {
		return "", false
	}
	parsed, err := time.Parse(exifDateLayout, s[:19])
	if err != nil || parsed.Year() < 1800 {
		return "", false
	}
	return parsed.Format("2006-01-02T15:04:05"), true
}

// applyGPS sets the position when it is usable: both coordinates present,
// valid denominators, in range, and not the 0,0 that empty blocks decode to.
func applyGPS(t *exifTags, m *Metadata) {
	if t.gps == nil {
		return
	}
	m.gpsTime = gpsInstant(t)

	lat, latOK := gpsCoordinate(t, tagGPSLat, tagGPSLatRef, "S", 90)
	lon, lonOK := gpsCoordinate(t, tagGPSLon, tagGPSLonRef, "W", 180)
	if !latOK || !lonOK || (lat == 0 && lon == 0) {
		return
	}
	m.GPSLat, m.GPSLon = &lat, &lon

	if alt, ok := t.rational(t.gps, tagGPSAlt); ok && !math.IsNaN(alt) && math.Abs(alt) < 100000 {
		if ref, ok := t.uint(t.gps, tagGPSAltRef); ok && ref == 1 {
			alt = -alt
		}
		m.GPSAlt = &alt
	}
}

// gpsCoordinate reads degrees, minutes, seconds and the hemisphere ref.
func gpsCoordinate(t *exifTags, tag, refTag uint16, negative string, limit float64) (float64, bool) {
	parts, ok := t.rationals(t.gps, tag)
	if !ok || len(parts) == 0 {
		return 0, false
	}
	value := parts[0]
	if len(parts) > 1 {
		value += parts[1] / 60
	}
	if len(parts) > 2 {
		value += parts[2] / 3600
	}

	ref := strings.ToUpper(t.str(t.gps, refTag))
	if ref == "" {
		// Without a hemisphere the sign is a guess; refuse the value.
		return 0, false
	}
	if ref == negative {
		value = -value
	}
	if math.IsNaN(value) || math.Abs(value) > limit {
		return 0, false
	}
	return value, true
}

// gpsInstant is the GPS receiver's UTC time, or zero.
func gpsInstant(t *exifTags) time.Time {
	date := t.str(t.gps, tagGPSDateStamp)
	hms, ok := t.rationals(t.gps, tagGPSTimeStamp)
	if len(date) < 10 || !ok || len(hms) < 3 {
		return time.Time{}
	}
	day, err := time.Parse("2006:01:02", date[:10])
	if err != nil {
		return time.Time{}
	}
	seconds := hms[0]*3600 + hms[1]*60 + hms[2]
	if seconds < 0 || seconds >= 86400 {
		return time.Time{}
	}
	return day.Add(time.Duration(seconds * float64(time.Second)))
}

// finishTakenAt derives the offset from the GPS clock when no tag gave
// one, and the UTC instant when the offset is known. Nothing here reads
// time.Local: the result must not depend on the server's zone.
func finishTakenAt(m *Metadata) {
	if m.TakenAtLocal == "" {
		return
	}
	local, err := parseLocal(m.TakenAtLocal)
	if err != nil {
		m.addError(fmt.Errorf("parse capture time %q: %w", m.TakenAtLocal, err))
		return
	}

	if m.TakenAtOffset == "" && !m.gpsTime.IsZero() {
		if offset, ok := offsetFromGPS(local, m.gpsTime); ok {
			m.TakenAtOffset = offset
			m.TakenAtOffsetSource = "GPS"
		}
	}
	if m.TakenAtOffset == "" {
		return
	}

	minutes, ok := offsetMinutes(m.TakenAtOffset)
	if !ok {
		return
	}
	utc := local.Add(-time.Duration(minutes) * time.Minute)
	m.TakenAtUTC = utc.Format(utcLayout)
}

// parseLocal reads "2006-01-02T15:04:05[.fraction]" as a wall clock
// (held in a UTC time value only for arithmetic).
func parseLocal(s string) (time.Time, error) {
	base, frac, _ := strings.Cut(s, ".")
	t, err := time.Parse("2006-01-02T15:04:05", base)
	if err != nil {
		return time.Time{}, err
	}
	if frac != "" && isDigits(frac) {
		f := frac + strings.Repeat("0", max(0, 9-len(frac)))
		var ns int
		fmt.Sscanf(f[:9], "%d", &ns)
		t = t.Add(time.Duration(ns))
	}
	return t, nil
}

// offsetFromGPS rounds (wall clock - GPS UTC) to whole quarter hours, and
// accepts it only when the two clocks agree within a few minutes of such
// an offset; a stale GPS fix gives no offset rather than a wrong one.
func offsetFromGPS(local, gps time.Time) (string, bool) {
	diff := local.Sub(gps)
	quarters := math.Round(diff.Minutes() / 15)
	residual := diff - time.Duration(quarters*15)*time.Minute
	if residual.Abs() > 3*time.Minute || quarters < -12*4 || quarters > 14*4 {
		return "", false
	}
	return formatOffset(int(quarters) * 15), true
}

func formatOffset(minutes int) string {
	sign := "+"
	if minutes < 0 {
		sign, minutes = "-", -minutes
	}
	return fmt.Sprintf("%s%02d:%02d", sign, minutes/60, minutes%60)
}

func offsetMinutes(offset string) (int, bool) {
	if !offsetPattern.MatchString(offset) {
		return 0, false
	}
	var h, mm int
	fmt.Sscanf(offset[1:], "%d:%d", &h, &mm)
	minutes := h*60 + mm
	if offset[0] == '-' {
		minutes = -minutes
	}
	return minutes, true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
