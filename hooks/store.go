package hooks

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/notification"
)

// sniffBytes is how much of an object's head is read to detect its type;
// the mimetype detector looks at no more than this.
const sniffBytes = 3072

// watchedEvents are the bucket events that can change what a key holds.
// Lifecycle expiry of delete markers is not part of ObjectRemoved:*.
var watchedEvents = []notification.EventType{
	notification.ObjectCreatedAll,
	notification.ObjectRemovedAll,
	notification.ILMDelMarkerExpirationDelete,
}

// Store is the indexer's view of MinIO: what a key holds now, and the
// bucket notification settings.
type Store struct {
	client *minio.Client
	logger *slog.Logger
}

// objectState is what MinIO reports for a key at one moment.
type objectState struct {
	Size         int64
	ETag         string
	VersionID    string
	ContentType  string
	LastModified time.Time
	UserMetadata map[string]string
}

// NewStore makes a client for the S3 endpoint (host:port, plain HTTP on
// loopback unless secure is set).
func NewStore(endpoint, accessKey, secretKey string, secure bool, logger *slog.Logger) (*Store, error) {
	client, err := minio.New(endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(accessKey, secretKey, ""),
		Secure: secure,
	})
	if err != nil {
		return nil, fmt.Errorf("configure S3 client for %s: %w", endpoint, err)
	}
	return &Store{client: client, logger: logger}, nil
}

// StartHealthCheck has the client probe MinIO every interval, so that
// IsOnline reflects it; the returned function stops the probing.
func (s *Store) StartHealthCheck(interval time.Duration) (stop func()) {
	cancel, err := s.client.HealthCheck(interval)
	if err != nil {
		return func() {}
	}
	return cancel
}

// Client exposes the underlying S3 client.
func (s *Store) Client() *minio.Client { return s.client }

// WaitReady polls until MinIO answers, or ctx ends.
func (s *Store) WaitReady(ctx context.Context) error {
	delay := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		_, err := s.client.ListBuckets(ctx)
		if err == nil {
			return nil
		}
		if attempt == 10 {
			s.logger.Warn("waiting for MinIO", "endpoint", s.client.EndpointURL().Host, "error", err)
		}

		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for MinIO: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(delay*2, 2*time.Second)
	}
}

// EnsureBucket creates the bucket when it does not exist yet.
func (s *Store) EnsureBucket(ctx context.Context, bucket string) (created bool, err error) {
	exists, err := s.client.BucketExists(ctx, bucket)
	if err != nil {
		return false, fmt.Errorf("check bucket %s: %w", bucket, err)
	}
	if exists {
		return false, nil
	}
	if err := s.client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		return false, fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	return true, nil
}

// AttachNotifications points the bucket's events at arn, keeping any other
// notification settings the bucket already has.
func (s *Store) AttachNotifications(ctx context.Context, bucket, arn string) error {
	target, err := notification.NewArnFromString(arn)
	if err != nil {
		return fmt.Errorf("parse notification ARN %s: %w", arn, err)
	}

	current, err := s.client.GetBucketNotification(ctx, bucket)
	if err != nil {
		return fmt.Errorf("read notifications of bucket %s: %w", bucket, err)
	}
	if hasQueue(current, arn) {
		return nil
	}

	queue := notification.NewConfig(target)
	queue.AddEvents(watchedEvents...)
	current.AddQueue(queue)
	if err := s.client.SetBucketNotification(ctx, bucket, current); err != nil {
		return fmt.Errorf("attach %s to bucket %s: %w", arn, bucket, err)
	}
	return nil
}

// hasQueue reports whether arn already receives every watched event of the
// whole bucket.
func hasQueue(config notification.Configuration, arn string) bool {
	for _, queue := range config.QueueConfigs {
		if queue.Queue != arn {
			continue
		}
		if queue.Filter != nil && len(queue.Filter.S3Key.FilterRules) > 0 {
			continue
		}
		all := true
		for _, event := range watchedEvents {
			all = all && slices.Contains(queue.Events, event)
		}
		if all {
			return true
		}
	}
	return false
}

// Stat returns the key's current state, or found=false when the key does
// not exist or its latest version is a delete marker.
func (s *Store) Stat(ctx context.Context, bucket, key string) (state objectState, found bool, err error) {
	info, err := s.client.StatObject(ctx, bucket, key, minio.StatObjectOptions{})
	if err != nil {
		if isNotFound(err) {
			return objectState{}, false, nil
		}
		return objectState{}, false, fmt.Errorf("stat %s/%s: %w", bucket, key, err)
	}

	state = objectState{
		Size:         info.Size,
		ETag:         info.ETag,
		VersionID:    info.VersionID,
		ContentType:  info.ContentType,
		LastModified: info.LastModified.UTC(),
		UserMetadata: info.UserMetadata,
	}
	return state, true, nil
}

// Read returns the key's current state and its first sniffBytes bytes
// from one ranged GET, so state and bytes always belong to the same
// version. found=false means the key does not exist or its latest version
// is a delete marker.
func (s *Store) Read(ctx context.Context, bucket, key string) (
	state objectState, head []byte, found bool, err error) {
	opts := minio.GetObjectOptions{}
	if err := opts.SetRange(0, sniffBytes-1); err != nil {
		return objectState{}, nil, false, err
	}

	// Core's GetObject hands back the reply's headers, which carry the
	// total size in Content-Range; the plain client's Stat does not.
	body, info, headers, err := minio.Core{Client: s.client}.GetObject(ctx, bucket, key, opts)
	if err != nil {
		if isNotFound(err) {
			return objectState{}, nil, false, nil
		}
		if minio.ToErrorResponse(err).Code == "InvalidRange" {
			// Only an empty object has no byte 0.
			state, found, err := s.Stat(ctx, bucket, key)
			return state, nil, found, err
		}
		return objectState{}, nil, false, fmt.Errorf("read %s/%s: %w", bucket, key, err)
	}
	defer body.Close()

	state = objectState{
		Size:         totalSize(info.Size, headers.Get("Content-Range")),
		ETag:         info.ETag,
		VersionID:    info.VersionID,
		ContentType:  info.ContentType,
		LastModified: info.LastModified.UTC(),
		UserMetadata: info.UserMetadata,
	}
	head, err = io.ReadAll(io.LimitReader(body, sniffBytes))
	if err != nil {
		return objectState{}, nil, false, fmt.Errorf("read head of %s/%s: %w", bucket, key, err)
	}
	return state, head, true, nil
}

// totalSize is the object's full size: a ranged reply's Content-Length is
// the range's, the total follows the slash of Content-Range.
func totalSize(length int64, contentRange string) int64 {
	_, total, ok := strings.Cut(contentRange, "/")
	if !ok {
		return length
	}
	size, err := strconv.ParseInt(total, 10, 64)
	if err != nil {
		return length
	}
	return size
}

func isNotFound(err error) bool {
	response := minio.ToErrorResponse(err)
	switch response.Code {
	case "NoSuchKey", "NoSuchBucket", "NoSuchVersion":
		return true
	}
	return response.StatusCode == http.StatusNotFound
}
