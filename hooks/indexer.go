package hooks

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/arrow-mino/arrow-mino/migrations"
)

// Sync outcomes, as logged and counted.
const (
	actionCreated   = "created"
	actionUpdated   = "updated"
	actionUnchanged = "unchanged"
	actionDeleted   = "deleted"
	actionAbsent    = "absent"
)

const (
	defaultWorkers = 16
	queueDepth     = 64
)

// keyRef names one key of one bucket.
type keyRef struct {
	bucket string
	key    string
}

// syncJob asks for one key to be made to match the bucket. Every waiter in
// done is told the outcome once the row is committed (or the attempt
// failed).
type syncJob struct {
	keyRef
	done []func(action string, err error)
}

// Indexer makes rows of the objects collection match what MinIO holds.
// Every request names a key; the key is read fresh from MinIO, so duplicate
// and reordered events converge on the bucket's current state. Keys are
// sharded over workers by hash, so one key is never synced twice at once,
// and requests for a key that is already waiting join that job: a burst of
// events for one key costs one read, not one each.
type Indexer struct {
	app    core.App
	store  *Store
	logger *slog.Logger
	queues []chan *syncJob
	wg     sync.WaitGroup

	// mu guards waiting, the jobs queued but not yet started.
	mu      sync.Mutex
	waiting map[keyRef]*syncJob

	// sync does the work of one job; syncKey outside of tests.
	sync func(ctx context.Context, bucket, key string) (string, error)

	// onChange is told which bucket's rows changed.
	onChange func(bucket string)
}

// NewIndexer makes an indexer with the given number of key workers.
func NewIndexer(app core.App, store *Store, workers int, logger *slog.Logger) *Indexer {
	if workers <= 0 {
		workers = defaultWorkers
	}
	ix := &Indexer{
		app:      app,
		store:    store,
		logger:   logger,
		queues:   make([]chan *syncJob, workers),
		waiting:  map[keyRef]*syncJob{},
		onChange: func(string) {},
	}
	ix.sync = ix.syncKey
	for i := range ix.queues {
		ix.queues[i] = make(chan *syncJob, queueDepth)
	}
	return ix
}

// Run serves the workers until ctx ends; jobs still queued then are dropped
// without calling done, so their events stay unacknowledged and come back.
func (ix *Indexer) Run(ctx context.Context) {
	for _, queue := range ix.queues {
		ix.wg.Add(1)
		go func() {
			defer ix.wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case job := <-queue:
					ix.work(ctx, job)
				}
			}
		}()
	}
	ix.wg.Wait()
}

// work runs one job. The job stops taking waiters before the key is read,
// so a request made after the read began gets a read of its own.
func (ix *Indexer) work(ctx context.Context, job *syncJob) {
	ix.mu.Lock()
	if ix.waiting[job.keyRef] == job {
		delete(ix.waiting, job.keyRef)
	}
	waiters := job.done
	ix.mu.Unlock()

	action, err := ix.sync(ctx, job.bucket, job.key)
	for _, done := range waiters {
		if done != nil {
			done(action, err)
		}
	}
}

// Submit queues a key for syncing, or joins the key's job that is already
// waiting; it blocks while the key's worker queue is full.
func (ix *Indexer) Submit(ctx context.Context, bucket, key string,
	done func(action string, err error)) error {
	ref := keyRef{bucket: bucket, key: key}

	ix.mu.Lock()
	if job, ok := ix.waiting[ref]; ok {
		job.done = append(job.done, done)
		ix.mu.Unlock()
		return nil
	}
	job := &syncJob{keyRef: ref, done: []func(string, error){done}}
	ix.waiting[ref] = job
	ix.mu.Unlock()

	hash := fnv.New32a()
	hash.Write([]byte(bucket))
	hash.Write([]byte{0})
	hash.Write([]byte(key))
	queue := ix.queues[hash.Sum32()%uint32(len(ix.queues))]

	select {
	case queue <- job:
		return nil
	case <-ctx.Done():
		// Shutting down: the caller hears it from the error, and requests
		// that joined this job meanwhile are told too.
		ix.mu.Lock()
		if ix.waiting[ref] == job {
			delete(ix.waiting, ref)
		}
		joined := job.done[1:]
		ix.mu.Unlock()
		for _, done := range joined {
			if done != nil {
				done("", ctx.Err())
			}
		}
		return ctx.Err()
	}
}

// syncKey reads the key from MinIO and creates, updates or deletes its row.
func (ix *Indexer) syncKey(ctx context.Context, bucket, key string) (action string, err error) {
	started := time.Now()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sync %s/%s panicked: %v", bucket, key, r)
		}
		if err != nil {
			ix.logger.Warn("object sync failed", "bucket", bucket, "key", key, "error", err)
			return
		}
		ix.logger.Debug("object synced", "bucket", bucket, "key", key,
			"action", action, "duration", time.Since(started))
	}()

	action, err = ix.syncOnce(ctx, bucket, key)
	if err == nil && action != actionUnchanged && action != actionAbsent {
		ix.onChange(bucket)
	}
	return action, err
}

func (ix *Indexer) syncOnce(ctx context.Context, bucket, key string) (string, error) {
	state, head, found, err := ix.store.Read(ctx, bucket, key)
	if err != nil {
		return "", err
	}

	record, err := ix.app.FindRecordById(migrations.ObjectsCollection, RecordID(bucket, key))
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("find row of %s/%s: %w", bucket, key, err)
	}
	exists := err == nil

	if !found {
		if !exists {
			return actionAbsent, nil
		}
		if err := ix.app.Delete(record); err != nil {
			return "", fmt.Errorf("delete row of %s/%s: %w", bucket, key, err)
		}
		return actionDeleted, nil
	}

	if exists && sameObject(record, state) {
		return actionUnchanged, nil
	}

	sniffed := sniffType(head, state.Size)

	if !exists {
		collection, err := ix.app.FindCachedCollectionByNameOrId(migrations.ObjectsCollection)
		if err != nil {
			return "", fmt.Errorf("find objects collection: %w", err)
		}
		record = core.NewRecord(collection)
		record.Id = RecordID(bucket, key)
		record.Set("bucket", bucket)
		record.Set("key", key)
	}
	record.Set("version_id", state.VersionID)
	record.Set("size", state.Size)
	record.Set("etag", state.ETag)
	record.Set("content_type", state.ContentType)
	record.Set("sniffed_type", sniffed)
	record.Set("kind", classify(sniffed, state.ContentType))
	record.Set("user_metadata", userMetadata(state.UserMetadata))
	lastModified, err := types.ParseDateTime(state.LastModified)
	if err != nil {
		return "", fmt.Errorf("convert last-modified of %s/%s: %w", bucket, key, err)
	}
	record.Set("last_modified", lastModified)

	if err := ix.app.SaveWithContext(ctx, record); err != nil {
		return "", fmt.Errorf("save row of %s/%s: %w", bucket, key, err)
	}
	if exists {
		return actionUpdated, nil
	}
	return actionCreated, nil
}

// sameObject reports whether the row already says what MinIO says.
func sameObject(record *core.Record, state objectState) bool {
	if record.GetString("etag") != state.ETag ||
		record.GetInt("size") != int(state.Size) ||
		record.GetString("version_id") != state.VersionID ||
		record.GetString("content_type") != state.ContentType ||
		!record.GetDateTime("last_modified").Time().Equal(state.LastModified) {
		return false
	}

	var stored map[string]string
	raw, _ := json.Marshal(record.Get("user_metadata"))
	_ = json.Unmarshal(raw, &stored)
	return maps.Equal(stored, userMetadata(state.UserMetadata))
}

// userMetadata is never nil, so the column holds {} rather than null for an
// object without metadata.
func userMetadata(metadata map[string]string) map[string]string {
	if metadata == nil {
		return map[string]string{}
	}
	return metadata
}

// RecordID is the row id of a key: derived from bucket and key, so every
// node names the same object the same way and lookups need no index.
func RecordID(bucket, key string) string {
	sum := sha256.Sum256([]byte(bucket + "\x00" + key))
	return hex.EncodeToString(sum[:])[:15]
}
