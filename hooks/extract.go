package hooks

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/filesystem"

	"github.com/arrow-mino/arrow-mino/media"
	"github.com/arrow-mino/arrow-mino/migrations"
)

const (
	// extractWorkers is how many objects are probed at once; decoding is
	// CPU-bound and shares the machine with ingest.
	extractWorkers = 2

	// extractQueueDepth bounds waiting keys; beyond it keys are dropped
	// and found again by the next scan.
	extractQueueDepth = 256

	// extractRescanEvery is how often the table is scanned for rows whose
	// extraction is missing or stale, once a key has been dropped.
	extractRescanEvery = 5 * time.Minute

	// extractScanPage is how many row ids one scan query returns.
	extractScanPage = 500

	// extractTimeout bounds one object: probe, thumbnails and save.
	extractTimeout = 2 * time.Minute
)

// staleRowsCondition selects, after id {:last}, media rows whose
// extraction is missing or belongs to an older object version.
const staleRowsCondition = "id > {:last} AND etag != '' AND etag != extracted_etag" +
	" AND kind IN ('image', 'video', 'audio')"

// extractKinds are the object kinds that have media metadata.
var extractKinds = map[string]bool{"image": true, "video": true, "audio": true}

// mediaColumns are the objects columns that Metadata fills, by JSON name.
var mediaColumns = []string{
	"format", "width", "height", "orientation", "display_width", "display_height",
	"make", "model", "lens", "iso", "exposure_time", "f_number", "focal_length",
	"taken_at_local", "taken_at_offset", "taken_at_offset_source", "taken_at_utc",
	"has_gps", "gps_lat", "gps_lon", "gps_alt", "duration", "container", "video_codec",
	"audio_codec", "frame_rate", "sample_rate", "channels", "title", "artist",
	"album", "creation_time_utc", "extract_error",
}

// Extractor fills the media columns and thumbnails of objects rows. Hooks
// only queue row ids (never blocking the save that fired them); a small
// worker pool reads each object from MinIO with range reads and saves the
// result on a fresh copy of the row, only if the row's etag is unchanged.
type Extractor struct {
	app    core.App
	store  *Store
	logger *slog.Logger

	queue   chan string
	mu      sync.Mutex
	queued  map[string]bool
	dropped atomic.Bool
}

// NewExtractor makes an extractor; Bind attaches it to the app's hooks and
// Run serves the queue.
func NewExtractor(app core.App, store *Store, logger *slog.Logger) *Extractor {
	return &Extractor{
		app:    app,
		store:  store,
		logger: logger.With("component", "extract"),
		queue:  make(chan string, extractQueueDepth),
		queued: map[string]bool{},
	}
}

// Bind queues rows of the objects collection after each successful create
// or update whose etag differs from extracted_etag.
func (x *Extractor) Bind() {
	x.app.OnRecordAfterCreateSuccess(migrations.ObjectsCollection).BindFunc(x.onSaved)
	x.app.OnRecordAfterUpdateSuccess(migrations.ObjectsCollection).BindFunc(x.onSaved)
}

func (x *Extractor) onSaved(e *core.RecordEvent) error {
	if needsExtraction(e.Record) {
		x.offer(e.Record.Id)
	}
	return e.Next()
}

// needsExtraction says whether the row's media fields are missing or stale.
func needsExtraction(record *core.Record) bool {
	etag := record.GetString("etag")
	return etag != "" && etag != record.GetString("extracted_etag") && extractKinds[record.GetString("kind")]
}

// offer queues id without waiting; on overflow the id is dropped and the
// next scan picks it up.
func (x *Extractor) offer(id string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.queued[id] {
		return
	}
	select {
	case x.queue <- id:
		x.queued[id] = true
	default:
		if !x.dropped.Swap(true) {
			x.logger.Warn("extract queue full; dropped keys wait for the next scan", "depth", extractQueueDepth)
		}
	}
}

// Run scans for rows needing extraction, then serves the queue until ctx
// ends; it rescans periodically while keys have been dropped.
func (x *Extractor) Run(ctx context.Context) {
	x.logger.Info("media extraction", "workers", extractWorkers, "tools", media.Tools().String())

	var wg sync.WaitGroup
	for range extractWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x.work(ctx)
		}()
	}

	x.scan(ctx)
	ticker := time.NewTicker(extractRescanEvery)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-ticker.C:
			if x.dropped.Swap(false) {
				x.scan(ctx)
			}
		}
	}
}

// scan queues every row whose extracted_etag differs from its etag,
// waiting for room in the queue (this is not the ingest path).
func (x *Extractor) scan(ctx context.Context) {
	started := time.Now()
	total := 0
	lastID := ""
	for ctx.Err() == nil {
		var ids []string
		err := x.app.DB().
			Select("id").
			From(migrations.ObjectsCollection).
			Where(dbx.NewExp(staleRowsCondition, dbx.Params{"last": lastID})).
			OrderBy("id").
			Limit(extractScanPage).
			Column(&ids)
		if err != nil {
			x.logger.Error("scan for stale media fields", "error", err)
			return
		}
		if len(ids) == 0 {
			break
		}

		for _, id := range ids {
			x.mu.Lock()
			already := x.queued[id]
			x.queued[id] = true
			x.mu.Unlock()
			if already {
				continue
			}
			select {
			case x.queue <- id:
				total++
			case <-ctx.Done():
				return
			}
		}
		lastID = ids[len(ids)-1]
	}
	x.logger.Info("scanned for stale media fields", "queued", total, "duration", time.Since(started))
}

// work extracts queued rows until ctx ends.
func (x *Extractor) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-x.queue:
			x.mu.Lock()
			delete(x.queued, id)
			x.mu.Unlock()
			x.extractSafely(ctx, id)
		}
	}
}

// extractSafely runs one extraction, turning a panic into a log line.
func (x *Extractor) extractSafely(ctx context.Context, id string) {
	defer func() {
		if v := recover(); v != nil {
			x.logger.Error("media extraction panicked", "id", id, "panic", v, "stack", string(debug.Stack()))
		}
	}()

	ctx, cancel := context.WithTimeout(ctx, extractTimeout)
	defer cancel()
	if err := x.extract(ctx, id); err != nil {
		x.logger.Error("media extraction failed", "id", id, "error", err)
	}
}

// extract reads one row's object, probes it and saves the result.
func (x *Extractor) extract(ctx context.Context, id string) error {
	started := time.Now()
	record, err := x.app.FindRecordById(migrations.ObjectsCollection, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find row %s: %w", id, err)
	}
	if !needsExtraction(record) {
		return nil
	}
	bucket, key, etag := record.GetString("bucket"), record.GetString("key"), record.GetString("etag")

	src, err := x.openObject(ctx, bucket, key, etag)
	if err != nil {
		// The object may have changed or gone; its next event, or the
		// next scan, brings it back.
		return err
	}
	defer src.Close()

	meta := media.Probe(ctx, src, key)
	small, medium, thumbErr := media.Thumbnails(ctx, src, meta)
	if thumbErr != nil && !errors.Is(thumbErr, media.ErrNoThumbnail) {
		x.logger.Debug("no thumbnail", "bucket", bucket, "key", key, "error", thumbErr)
	}

	saved, err := x.save(ctx, id, etag, meta, small, medium)
	if err != nil {
		return fmt.Errorf("save media fields of %s/%s: %w", bucket, key, err)
	}
	x.logger.Debug("extracted", "bucket", bucket, "key", key, "format", meta.Format,
		"saved", saved, "thumbnails", small != nil, "extract_error", meta.ExtractError,
		"duration", time.Since(started))
	return nil
}

// save writes the fields on a fresh copy of the row inside a transaction,
// only when the row still describes the same object version.
func (x *Extractor) save(ctx context.Context, id, etag string, meta media.Metadata,
	small, medium []byte) (bool, error) {
	values, err := metadataValues(meta)
	if err != nil {
		return false, err
	}

	saved := false
	err = x.app.RunInTransaction(func(tx core.App) error {
		fresh, err := tx.FindRecordById(migrations.ObjectsCollection, id)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reload row: %w", err)
		}
		if fresh.GetString("etag") != etag {
			return nil
		}

		for _, column := range mediaColumns {
			fresh.Set(column, values[column])
		}
		if err := setThumb(fresh, "thumb_small", small); err != nil {
			return err
		}
		if err := setThumb(fresh, "thumb_medium", medium); err != nil {
			return err
		}
		fresh.Set("extracted_etag", etag)

		if err := tx.SaveWithContext(ctx, fresh); err != nil {
			return err
		}
		saved = true
		return nil
	})
	return saved, err
}

// metadataValues maps column names to values; columns Probe left empty
// get their zero value, so a new object version clears stale fields.
func metadataValues(meta media.Metadata) (map[string]any, error) {
	raw, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("encode metadata: %w", err)
	}
	values := map[string]any{}
	if err := json.Unmarshal(raw, &values); err != nil {
		return nil, fmt.Errorf("decode metadata: %w", err)
	}
	for _, column := range mediaColumns {
		if _, ok := values[column]; !ok {
			values[column] = nil
		}
	}
	values["has_gps"] = meta.GPSLat != nil && meta.GPSLon != nil
	return values, nil
}

// setThumb stores data as the field's file, or clears the field.
func setThumb(record *core.Record, field string, data []byte) error {
	if len(data) == 0 {
		record.Set(field, "")
		return nil
	}
	file, err := filesystem.NewFileFromBytes(data, field+".jpg")
	if err != nil {
		return fmt.Errorf("prepare %s: %w", field, err)
	}
	record.Set(field, file)
	return nil
}

// objectSource is a media.Source over one object version in MinIO: every
// read is a ranged GET pinned to the etag.
type objectSource struct {
	*minio.Object
	size int64
}

// Size is the object's size from its first reply.
func (o *objectSource) Size() int64 { return o.size }

// openObject opens bucket/key for range reads, refusing another version.
// The size comes from a HEAD: the Object's own Stat would start a GET of
// the whole object before the first ranged read.
func (x *Extractor) openObject(ctx context.Context, bucket, key, etag string) (*objectSource, error) {
	statOpts := minio.StatObjectOptions{}
	if err := statOpts.SetMatchETag(etag); err != nil {
		return nil, fmt.Errorf("pin etag of %s/%s: %w", bucket, key, err)
	}
	info, err := x.store.Client().StatObject(ctx, bucket, key, statOpts)
	if err != nil {
		return nil, fmt.Errorf("stat %s/%s: %w", bucket, key, err)
	}

	opts := minio.GetObjectOptions{}
	if err := opts.SetMatchETag(etag); err != nil {
		return nil, fmt.Errorf("pin etag of %s/%s: %w", bucket, key, err)
	}
	obj, err := x.store.Client().GetObject(ctx, bucket, key, opts)
	if err != nil {
		return nil, fmt.Errorf("open %s/%s: %w", bucket, key, err)
	}
	return &objectSource{Object: obj, size: info.Size}, nil
}
