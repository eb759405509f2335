// Package migrations owns arrow-mino's schema: every collection the indexer
// writes is created here, so the same ids and columns exist on every node.
package migrations

import (
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
	"github.com/pocketbase/pocketbase/tools/types"
)

// Collection names shared by the ingest hooks and the Flight SQL server.
const (
	BucketsCollection      = "buckets"
	ObjectsCollection      = "objects"
	IngestErrorsCollection = "ingest_errors"
)

// Object kinds, the coarse media class of an object's content.
var ObjectKinds = []string{"image", "video", "audio", "document", "other"}

// signedInOnly lets any authenticated record list and view; superusers
// always can. Guests see nothing.
var signedInOnly = types.Pointer("@request.auth.id != ''")

func init() {
	m.Register(createIndexCollections, dropIndexCollections)
}

func createIndexCollections(app core.App) error {
	buckets := core.NewBaseCollection(BucketsCollection)
	buckets.ListRule = signedInOnly
	buckets.ViewRule = signedInOnly
	buckets.Fields.Add(
		&core.TextField{Name: "name", Required: true, Max: 63, Presentable: true},
		&core.BoolField{Name: "watched"},
		&core.NumberField{Name: "object_count", OnlyInt: true},
		&core.NumberField{Name: "bytes", OnlyInt: true},
		&core.DateField{Name: "last_reconciled"},
		&core.AutodateField{Name: "created", OnCreate: true},
		&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true},
	)
	buckets.AddIndex("idx_buckets_name", true, "name", "")
	if err := app.Save(buckets); err != nil {
		return err
	}

	objects := core.NewBaseCollection(ObjectsCollection)
	objects.ListRule = signedInOnly
	objects.ViewRule = signedInOnly
	objects.Fields.Add(
		&core.TextField{Name: "bucket", Required: true, Max: 63},
		// S3 keys are at most 1024 bytes, so never more than 1024 runes.
		&core.TextField{Name: "key", Required: true, Max: 1024, Presentable: true},
		&core.TextField{Name: "version_id", Max: 255},
		&core.NumberField{Name: "size", OnlyInt: true},
		&core.TextField{Name: "etag", Max: 255},
		&core.TextField{Name: "content_type", Max: 255, Help: "As declared by the uploader."},
		&core.TextField{Name: "sniffed_type", Max: 255, Help: "Detected from the object's first bytes."},
		&core.SelectField{Name: "kind", Values: ObjectKinds, MaxSelect: 1},
		&core.JSONField{Name: "user_metadata", MaxSize: 64 << 10},
		&core.DateField{Name: "last_modified"},
		&core.AutodateField{Name: "created", OnCreate: true},
		&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true},
	)
	objects.AddIndex("idx_objects_bucket_key", true, "bucket, key", "")
	objects.AddIndex("idx_objects_kind", false, "kind", "")
	if err := app.Save(objects); err != nil {
		return err
	}

	ingestErrors := core.NewBaseCollection(IngestErrorsCollection)
	ingestErrors.Fields.Add(
		&core.TextField{Name: "subject", Max: 255},
		&core.NumberField{Name: "sequence", OnlyInt: true},
		&core.TextField{Name: "error", Max: 2000},
		&core.TextField{Name: "payload", Max: 1 << 20},
		&core.AutodateField{Name: "created", OnCreate: true},
	)
	return app.Save(ingestErrors)
}

func dropIndexCollections(app core.App) error {
	for _, name := range []string{IngestErrorsCollection, ObjectsCollection, BucketsCollection} {
		collection, err := app.FindCollectionByNameOrId(name)
		if err != nil {
			continue
		}
		if err := app.Delete(collection); err != nil {
			return err
		}
	}
	return nil
}
