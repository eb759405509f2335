package hooks

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/arrow-mino/arrow-mino/migrations"
)

// progressEvery is how often a long reconcile reports how far it got.
const progressEvery = 2 * time.Second

// ReconcileResult counts what one reconcile pass of a bucket did.
type ReconcileResult struct {
	Bucket    string
	Listed    int
	Checked   int
	Created   int
	Updated   int
	Deleted   int
	Failed    int
	Started   time.Time
	Duration  time.Duration
	FirstFail error
}

// indexedRow is what the table holds for a key, enough to tell whether the
// listing disagrees.
type indexedRow struct {
	ETag         string
	Size         int64
	LastModified string
	Updated      string
}

// Reconcile lists the bucket and makes the table match it: keys missing or
// different in the table are synced, and rows whose key is no longer
// listed are checked and deleted. Rows written after the pass began are
// left alone, since live events may have added them after the listing
// passed their place. Every change goes through the indexer, so it never
// races the event consumer on the same key.
func (ix *Indexer) Reconcile(ctx context.Context, bucket string) (ReconcileResult, error) {
	result := ReconcileResult{Bucket: bucket, Started: time.Now().UTC()}
	startedText := types.NowDateTime().String()
	logger := ix.logger.With("bucket", bucket)

	rows, err := ix.indexedRows(bucket)
	if err != nil {
		return result, err
	}
	logger.Info("reconcile started", "indexed", len(rows))

	var (
		wg                                      sync.WaitGroup
		checked, created, updated, gone, failed atomic.Int64
		firstFail                               atomic.Pointer[error]
	)
	done := func(action string, err error) {
		defer wg.Done()
		checked.Add(1)
		if err != nil {
			failed.Add(1)
			firstFail.CompareAndSwap(nil, &err)
			return
		}
		switch action {
		case actionCreated:
			created.Add(1)
		case actionUpdated:
			updated.Add(1)
		case actionDeleted:
			gone.Add(1)
		}
	}
	submit := func(key string) error {
		wg.Add(1)
		if err := ix.Submit(ctx, bucket, key, done); err != nil {
			wg.Done()
			return err
		}
		return nil
	}

	nextReport := time.Now().Add(progressEvery)
	report := func(stage string) {
		if time.Now().Before(nextReport) {
			return
		}
		nextReport = time.Now().Add(progressEvery)
		logger.Info("reconcile progress", "stage", stage, "listed", result.Listed,
			"checked", checked.Load(), "created", created.Load(),
			"updated", updated.Load(), "deleted", gone.Load())
	}

	listing := ix.store.client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true})
	for object := range listing {
		if object.Err != nil && minio.ToErrorResponse(object.Err).Code == "NoSuchBucket" {
			// A force-deleted bucket sends no events: every row of it is
			// swept below.
			logger.Warn("bucket does not exist; sweeping its rows")
			break
		}
		if object.Err != nil {
			waitFor(ctx, &wg)
			return result, fmt.Errorf("list bucket %s: %w", bucket, object.Err)
		}
		result.Listed++

		row, indexed := rows[object.Key]
		delete(rows, object.Key)
		if indexed && row.matches(object) {
			continue
		}
		if err := submit(object.Key); err != nil {
			waitFor(ctx, &wg)
			return result, err
		}
		report("listing")
	}

	for key, row := range rows {
		if row.Updated >= startedText {
			continue
		}
		if err := submit(key); err != nil {
			waitFor(ctx, &wg)
			return result, err
		}
		report("sweeping")
	}

	if err := waitFor(ctx, &wg); err != nil {
		return result, err
	}
	result.Checked = int(checked.Load())
	result.Failed = int(failed.Load())
	if first := firstFail.Load(); first != nil {
		result.FirstFail = *first
	}
	result.Created = int(created.Load())
	result.Updated = int(updated.Load())
	result.Deleted = int(gone.Load())
	result.Duration = time.Since(result.Started)

	if err := ix.markReconciled(bucket, result.Started); err != nil {
		return result, err
	}
	ix.onChange(bucket)

	logger.Info("reconcile finished", "listed", result.Listed, "checked", result.Checked,
		"created", result.Created, "updated", result.Updated, "deleted", result.Deleted,
		"failed", result.Failed, "duration", result.Duration.Round(time.Millisecond))
	if result.Failed > 0 {
		return result, fmt.Errorf("reconcile %s: %d keys failed, first: %w",
			bucket, result.Failed, result.FirstFail)
	}
	return result, nil
}

// matches reports whether the row agrees with a listing entry. Listings
// carry milliseconds and rows the seconds of a GET's Last-Modified, so
// times are compared to the second; a changed time with the same etag is a
// metadata-only change, such as a copy onto itself.
func (row indexedRow) matches(object minio.ObjectInfo) bool {
	if row.ETag != object.ETag || row.Size != object.Size {
		return false
	}
	stored, err := types.ParseDateTime(row.LastModified)
	if err != nil {
		return false
	}
	return stored.Time().Unix() == object.LastModified.Unix()
}

// waitFor waits for the submitted keys, or until ctx ends: jobs still
// queued at shutdown never report back.
func waitFor(ctx context.Context, wg *sync.WaitGroup) error {
	finished := make(chan struct{})
	go func() {
		wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (ix *Indexer) indexedRows(bucket string) (map[string]indexedRow, error) {
	var rows []struct {
		Key          string `db:"key"`
		ETag         string `db:"etag"`
		Size         int64  `db:"size"`
		LastModified string `db:"last_modified"`
		Updated      string `db:"updated"`
	}
	err := ix.app.DB().
		Select("key", "etag", "size", "last_modified", "updated").
		From(migrations.ObjectsCollection).
		Where(dbx.HashExp{"bucket": bucket}).
		All(&rows)
	if err != nil {
		return nil, fmt.Errorf("read indexed rows of bucket %s: %w", bucket, err)
	}

	indexed := make(map[string]indexedRow, len(rows))
	for _, row := range rows {
		indexed[row.Key] = indexedRow{
			ETag:         row.ETag,
			Size:         row.Size,
			LastModified: row.LastModified,
			Updated:      row.Updated,
		}
	}
	return indexed, nil
}
