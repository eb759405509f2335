package migrations

import (
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

// thumbMaxSize bounds one stored thumbnail; a 1024 px JPEG is ~200 KB.
const thumbMaxSize = 2 << 20

// mediaFields are the columns media extraction fills on objects. Their
// names equal the JSON names of media.Metadata. Thumbnails are PocketBase
// file fields: they live in pb_data/storage (or PocketBase's own S3
// settings), never in an indexed bucket, which would index them again.
func mediaFields() []core.Field {
	return []core.Field{
		&core.TextField{Name: "format", Max: 32},
		&core.NumberField{Name: "width", OnlyInt: true},
		&core.NumberField{Name: "height", OnlyInt: true},
		&core.NumberField{Name: "orientation", OnlyInt: true},
		&core.NumberField{Name: "display_width", OnlyInt: true},
		&core.NumberField{Name: "display_height", OnlyInt: true},
		&core.TextField{Name: "make", Max: 255},
		&core.TextField{Name: "model", Max: 255},
		&core.TextField{Name: "lens", Max: 255},
		&core.NumberField{Name: "iso", OnlyInt: true},
		&core.NumberField{Name: "exposure_time"},
		&core.NumberField{Name: "f_number"},
		&core.NumberField{Name: "focal_length"},
		&core.TextField{Name: "taken_at_local", Max: 40, Help: "Camera wall clock, no zone."},
		&core.TextField{Name: "taken_at_offset", Max: 6},
		&core.TextField{Name: "taken_at_offset_source", Max: 32},
		&core.DateField{Name: "taken_at_utc"},
		// Number fields cannot be null, so has_gps says whether gps_lat and
		// gps_lon hold a position or the zero of a missing one.
		&core.BoolField{Name: "has_gps"},
		&core.NumberField{Name: "gps_lat"},
		&core.NumberField{Name: "gps_lon"},
		&core.NumberField{Name: "gps_alt"},
		&core.NumberField{Name: "duration"},
		&core.TextField{Name: "container", Max: 64},
		&core.TextField{Name: "video_codec", Max: 64},
		&core.TextField{Name: "audio_codec", Max: 64},
		&core.NumberField{Name: "frame_rate"},
		&core.NumberField{Name: "sample_rate", OnlyInt: true},
		&core.NumberField{Name: "channels", OnlyInt: true},
		&core.TextField{Name: "title", Max: 1000},
		&core.TextField{Name: "artist", Max: 1000},
		&core.TextField{Name: "album", Max: 1000},
		&core.DateField{Name: "creation_time_utc"},
		&core.TextField{Name: "extract_error", Max: 2000},
		&core.TextField{Name: "extracted_etag", Max: 255, Help: "ETag the media fields were read from."},
		&core.FileField{Name: "thumb_small", MaxSelect: 1, MaxSize: thumbMaxSize, MimeTypes: []string{"image/jpeg"}},
		&core.FileField{Name: "thumb_medium", MaxSelect: 1, MaxSize: thumbMaxSize, MimeTypes: []string{"image/jpeg"}},
	}
}

func init() {
	m.Register(addMediaFields, removeMediaFields)
}

func addMediaFields(app core.App) error {
	objects, err := app.FindCollectionByNameOrId(ObjectsCollection)
	if err != nil {
		return err
	}
	objects.Fields.Add(mediaFields()...)

	// The start-up scan looks for rows whose extracted_etag lags etag.
	objects.AddIndex("idx_objects_extracted_etag", false, "extracted_etag", "")
	return app.Save(objects)
}

func removeMediaFields(app core.App) error {
	objects, err := app.FindCollectionByNameOrId(ObjectsCollection)
	if err != nil {
		return err
	}
	for _, field := range mediaFields() {
		objects.Fields.RemoveByName(field.GetName())
	}
	objects.RemoveIndex("idx_objects_extracted_etag")
	return app.Save(objects)
}
