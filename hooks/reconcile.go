package hooks

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
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
	Key          string `db:"key"`
	ETag         string `db:"etag"`
	Size         int64  `db:"size"`
	LastModified string `db:"last_modified"`
	Updated      string `db:"updated"`
}

// Reconcile lists the bucket and makes the table match it: keys missing or
// different in the table are synced, and rows whose key is no longer
// listed are checked and deleted. Rows written after the pass began are
// left alone, since live events may have added them after the listing
// passed their place. Every change goes through the indexer, so it never
// races the event consumer on the same key.
//
// The listing and the table are merged in key order (S3 lists keys in
// UTF-8 byte order, SQLite's BINARY collation sorts them the same way),
// holding one page of rows at a time. A key the merge gets wrong costs
// only a read: every sync asks MinIO before it writes or deletes.
func (ix *Indexer) Reconcile(ctx context.Context, bucket string) (ReconcileResult, error) {
	result := ReconcileResult{Bucket: bucket, Started: time.Now().UTC()}
	startedText := types.NowDateTime().String()
	logger := ix.logger.With("bucket", bucket)

	indexed, err := ix.app.CountRecords(migrations.ObjectsCollection, dbx.HashExp{"bucket": bucket})
	if err != nil {
		return result, fmt.Errorf("count indexed rows of bucket %s: %w", bucket, err)
	}
	logger.Info("reconcile started", "indexed", indexed)
	rows := &rowCursor{app: ix.app, bucket: bucket}

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

	// sweep checks a row whose key the listing did not have.
	sweep := func(row indexedRow) error {
		if row.Updated >= startedText {
			return nil
		}
		report("sweeping")
		return submit(row.Key)
	}
	fail := func(err error) (ReconcileResult, error) {
		waitFor(ctx, &wg)
		return result, err
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
			return fail(fmt.Errorf("list bucket %s: %w", bucket, object.Err))
		}
		result.Listed++

		// Rows sorting before this key were not listed.
		row, ok, err := rows.peek()
		for ; err == nil && ok && row.Key < object.Key; row, ok, err = rows.peek() {
			if err := sweep(row); err != nil {
				return fail(err)
			}
			rows.next()
		}
		if err != nil {
			return fail(err)
		}

		if ok && row.Key == object.Key {
			rows.next()
			if row.matches(object) {
				continue
			}
		}
		if err := submit(object.Key); err != nil {
			return fail(err)
		}
		report("listing")
	}

	// Rows after the last listed key were not listed either.
	for {
		row, ok, err := rows.peek()
		if err != nil {
			return fail(err)
		}
		if !ok {
			break
		}
		if err := sweep(row); err != nil {
			return fail(err)
		}
		rows.next()
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

// rowPage is how many indexed rows a reconcile holds at once.
const rowPage = 5000

// rowCursor walks a bucket's indexed rows in key order, a page at a time.
type rowCursor struct {
	app      core.App
	bucket   string
	pageSize int // rowPage when zero
	page     []indexedRow
	pos      int
	after    string
	ended    bool
}

// peek returns the current row; ok is false after the last one.
func (c *rowCursor) peek() (row indexedRow, ok bool, err error) {
	if c.pos < len(c.page) {
		return c.page[c.pos], true, nil
	}
	if c.ended {
		return indexedRow{}, false, nil
	}

	size := c.pageSize
	if size == 0 {
		size = rowPage
	}
	c.page, c.pos = c.page[:0], 0
	err = c.app.DB().
		Select("key", "etag", "size", "last_modified", "updated").
		From(migrations.ObjectsCollection).
		Where(dbx.HashExp{"bucket": c.bucket}).
		AndWhere(dbx.NewExp("key > {:after}", dbx.Params{"after": c.after})).
		OrderBy("key ASC").
		Limit(int64(size)).
		All(&c.page)
	if err != nil {
		return indexedRow{}, false, fmt.Errorf("read indexed rows of bucket %s: %w", c.bucket, err)
	}
	if len(c.page) < size {
		c.ended = true
	}
	if len(c.page) == 0 {
		return indexedRow{}, false, nil
	}
	c.after = c.page[len(c.page)-1].Key
	return c.page[0], true, nil
}

// next moves past the current row.
func (c *rowCursor) next() { c.pos++ }
