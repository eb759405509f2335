package hooks

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/arrow-mino/arrow-mino/migrations"
)

// statsEvery is how often changed buckets get their counts recomputed:
// often enough for a live dashboard, rarely enough to cost one small query
// per busy bucket per tick instead of one write per object.
const statsEvery = time.Second

// bucketRecord returns the bucket's row, creating it when missing.
func bucketRecord(app core.App, name string) (*core.Record, error) {
	record, err := app.FindFirstRecordByData(migrations.BucketsCollection, "name", name)
	if err == nil {
		return record, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("find bucket %s: %w", name, err)
	}

	collection, err := app.FindCachedCollectionByNameOrId(migrations.BucketsCollection)
	if err != nil {
		return nil, fmt.Errorf("find buckets collection: %w", err)
	}
	record = core.NewRecord(collection)
	record.Set("name", name)
	if err := app.Save(record); err != nil {
		return nil, fmt.Errorf("create bucket row %s: %w", name, err)
	}
	return record, nil
}

// markWatched records that the bucket's events feed the index.
func markWatched(app core.App, name string) error {
	record, err := bucketRecord(app, name)
	if err != nil {
		return err
	}
	if record.GetBool("watched") {
		return nil
	}
	record.Set("watched", true)
	if err := app.Save(record); err != nil {
		return fmt.Errorf("mark bucket %s watched: %w", name, err)
	}
	return nil
}

// watchedBuckets lists buckets marked watched in the collection, so that a
// bucket added from the dashboard is picked up too.
func watchedBuckets(app core.App) ([]string, error) {
	records, err := app.FindAllRecords(migrations.BucketsCollection, dbx.HashExp{"watched": true})
	if err != nil {
		return nil, fmt.Errorf("list watched buckets: %w", err)
	}
	names := make([]string, 0, len(records))
	for _, record := range records {
		names = append(names, record.GetString("name"))
	}
	return names, nil
}

func (ix *Indexer) markReconciled(bucket string, started time.Time) error {
	record, err := bucketRecord(ix.app, bucket)
	if err != nil {
		return err
	}
	when, err := types.ParseDateTime(started)
	if err != nil {
		return err
	}
	record.Set("last_reconciled", when)
	if err := ix.app.Save(record); err != nil {
		return fmt.Errorf("record reconcile time of bucket %s: %w", bucket, err)
	}
	return nil
}

// bucketStats keeps object_count and bytes of each bucket row current. The
// indexer marks buckets dirty; a ticker recomputes them from the table.
type bucketStats struct {
	app    core.App
	logger *slog.Logger

	mu    sync.Mutex
	dirty map[string]bool
}

func newBucketStats(app core.App, logger *slog.Logger) *bucketStats {
	return &bucketStats{app: app, logger: logger, dirty: map[string]bool{}}
}

// markDirty notes that the bucket's rows changed.
func (s *bucketStats) markDirty(bucket string) {
	s.mu.Lock()
	s.dirty[bucket] = true
	s.mu.Unlock()
}

// run recomputes dirty buckets every tick until ctx ends, and once more at
// the end so the last changes are counted.
func (s *bucketStats) run(ctx context.Context) {
	ticker := time.NewTicker(statsEvery)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			s.flush()
			return
		case <-ticker.C:
			s.flush()
		}
	}
}

func (s *bucketStats) flush() {
	s.mu.Lock()
	buckets := s.dirty
	s.dirty = map[string]bool{}
	s.mu.Unlock()

	for bucket := range buckets {
		if err := s.recount(bucket); err != nil {
			s.logger.Warn("bucket stats not updated", "bucket", bucket, "error", err)
		}
	}
}

func (s *bucketStats) recount(bucket string) error {
	var totals struct {
		Count int64 `db:"count"`
		Bytes int64 `db:"bytes"`
	}
	err := s.app.DB().
		Select("count(*) AS count", "coalesce(sum(size), 0) AS bytes").
		From(migrations.ObjectsCollection).
		Where(dbx.HashExp{"bucket": bucket}).
		One(&totals)
	if err != nil {
		return fmt.Errorf("count objects: %w", err)
	}

	record, err := bucketRecord(s.app, bucket)
	if err != nil {
		return err
	}
	if int64(record.GetInt("object_count")) == totals.Count && int64(record.GetInt("bytes")) == totals.Bytes {
		return nil
	}
	record.Set("object_count", totals.Count)
	record.Set("bytes", totals.Bytes)
	if err := s.app.Save(record); err != nil {
		return fmt.Errorf("save bucket stats: %w", err)
	}
	s.logger.Info("bucket stats", "bucket", bucket, "objects", totals.Count, "bytes", totals.Bytes)
	return nil
}
