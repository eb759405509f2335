// Package hooks turns MinIO bucket events into rows of PocketBase
// collections: it consumes events from NATS JetStream, reads each changed
// key back from MinIO, saves or deletes its record through PocketBase, and
// reconciles whole buckets to catch what events never delivered.
package hooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/pocketbase/pocketbase/core"

	"github.com/arrow-mino/arrow-mino/broker"
)

const (
	// DefaultReconcileEvery is how often every watched bucket is listed
	// and merged with the table.
	DefaultReconcileEvery = time.Hour

	stopTimeout = 10 * time.Second

	// healthEvery is how often MinIO's health is probed for Status.
	healthEvery = 5 * time.Second

	// prepareAttempts bounds, at one a second, how long a bucket's setup
	// is retried while MinIO starts up.
	prepareAttempts = 60
	retryConsume    = 5 * time.Second
)

// Config wires the ingest service to MinIO and NATS.
type Config struct {
	// S3Endpoint is MinIO's host:port; S3Secure selects HTTPS.
	S3Endpoint  string
	S3AccessKey string
	S3SecretKey string
	S3Secure    bool

	// Buckets are created when missing, attached to TargetARN and watched.
	Buckets []string

	// TargetARN is MinIO's NATS notification target.
	TargetARN string

	// Broker says which NATS to consume from.
	Broker broker.Options

	// ReconcileEvery is the period of scheduled reconciles; zero means
	// DefaultReconcileEvery, negative turns them off.
	ReconcileEvery time.Duration

	// Workers is how many keys are synced at once.
	Workers int
}

// Service runs the event consumer, the indexer, bucket stats and the
// reconcile schedule for one PocketBase app.
type Service struct {
	app    core.App
	config Config
	logger *slog.Logger

	// brokerLogger has no component; the broker adds its own.
	brokerLogger *slog.Logger

	store     *Store
	indexer   *Indexer
	extractor *Extractor
	stats     *bucketStats
	broker    *broker.Broker
	events    eventMeter

	cancel     context.CancelFunc
	stopHealth func()
	wg         sync.WaitGroup
}

// NewService prepares the service; Start runs it.
func NewService(app core.App, config Config, logger *slog.Logger) (*Service, error) {
	brokerLogger := logger
	logger = logger.With("component", "ingest")

	store, err := NewStore(config.S3Endpoint, config.S3AccessKey, config.S3SecretKey, config.S3Secure, logger)
	if err != nil {
		return nil, err
	}

	service := &Service{
		app:          app,
		config:       config,
		logger:       logger,
		brokerLogger: brokerLogger,
		store:        store,
		indexer:      NewIndexer(app, store, config.Workers, logger),
		stats:        newBucketStats(app, logger),
	}
	service.indexer.onChange = service.stats.markDirty

	// Media metadata and thumbnails are read after a row is saved, off the
	// event path, so a slow decoder never holds back ingest.
	service.extractor = NewExtractor(app, store, brokerLogger)
	service.extractor.Bind()
	return service, nil
}

// Indexer exposes the service's indexer (for reconcile from the CLI).
func (s *Service) Indexer() *Indexer { return s.indexer }

// Store exposes the service's MinIO client.
func (s *Service) Store() *Store { return s.store }

// BrokerAddress is host:port of the embedded NATS server, or "".
func (s *Service) BrokerAddress() string {
	if s.broker == nil {
		return ""
	}
	return s.broker.Address()
}

// Start brings up NATS and the stream, then consumes events, and in the
// background prepares the buckets and reconciles them once MinIO answers.
// Subscribing before listing means no change falls between the two.
func (s *Service) Start() error {
	b, err := broker.Start(s.config.Broker, s.brokerLogger)
	if err != nil {
		return err
	}
	s.broker = b

	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel

	if _, err := b.EnsureStream(ctx); err != nil {
		cancel()
		b.Close()
		return err
	}

	s.stopHealth = s.store.StartHealthCheck(healthEvery)
	s.goRun(func() { s.indexer.Run(ctx) })
	s.goRun(func() { s.extractor.Run(ctx) })
	s.goRun(func() { s.stats.run(ctx) })
	s.goRun(func() { s.consume(ctx) })
	s.goRun(func() { s.prepareAndReconcile(ctx) })
	return nil
}

// Stop ends every loop, waits a bounded time, and closes NATS.
func (s *Service) Stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.stopHealth()

	stopped := make(chan struct{})
	go func() { s.wg.Wait(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(stopTimeout):
		s.logger.Warn("ingest did not stop in time", "timeout", stopTimeout)
	}

	if s.broker != nil {
		s.broker.Close()
	}
	s.logger.Info("ingest stopped")
}

func (s *Service) goRun(fn func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
}

func (s *Service) consume(ctx context.Context) {
	consumer := NewConsumer(s.app, s.indexer, s.logger)
	consumer.handled = s.events.add
	for ctx.Err() == nil {
		err := consumer.Run(ctx, s.broker.JetStream())
		if err == nil {
			return
		}
		s.logger.Error("event consumer stopped; retrying", "error", err, "in", retryConsume)
		select {
		case <-ctx.Done():
		case <-time.After(retryConsume):
		}
	}
}

func (s *Service) prepareAndReconcile(ctx context.Context) {
	if err := s.store.WaitReady(ctx); err != nil {
		if !errors.Is(err, context.Canceled) {
			s.logger.Error("MinIO is not reachable", "endpoint", s.config.S3Endpoint, "error", err)
		}
		return
	}
	s.logger.Info("MinIO is reachable", "endpoint", s.config.S3Endpoint)

	for _, bucket := range s.config.Buckets {
		s.prepareBucketPatiently(ctx, bucket)
	}
	s.ReconcileAll(ctx)

	every := s.config.ReconcileEvery
	if every == 0 {
		every = DefaultReconcileEvery
	}
	if every < 0 {
		return
	}
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			s.ReconcileAll(ctx)
		}
	}
}

// prepareBucketPatiently retries prepareBucket for a while: MinIO answers
// S3 calls before its notification targets are registered, and until then
// rejects the target's ARN.
func (s *Service) prepareBucketPatiently(ctx context.Context, bucket string) {
	for attempt := 1; ; attempt++ {
		err := s.prepareBucket(ctx, bucket)
		if err == nil {
			return
		}
		if attempt == prepareAttempts {
			s.logger.Error("bucket not prepared; its events will not arrive", "bucket", bucket, "error", err)
			return
		}
		if attempt%10 == 1 {
			s.logger.Warn("bucket not prepared yet; retrying",
				"bucket", bucket, "attempt", attempt, "error", err)
		}

		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// prepareBucket creates the bucket if needed, points its events at NATS and
// marks it watched.
func (s *Service) prepareBucket(ctx context.Context, bucket string) error {
	created, err := s.store.EnsureBucket(ctx, bucket)
	if err != nil {
		return err
	}
	if created {
		s.logger.Info("bucket created", "bucket", bucket)
	}
	if err := s.store.AttachNotifications(ctx, bucket, s.config.TargetARN); err != nil {
		return err
	}
	return markWatched(s.app, bucket)
}

// ReconcileAll reconciles the configured buckets and every bucket marked
// watched in the collection, one after another.
func (s *Service) ReconcileAll(ctx context.Context) {
	buckets, err := watchedBuckets(s.app)
	if err != nil {
		s.logger.Error("reconcile skipped", "error", err)
		return
	}
	for _, bucket := range s.config.Buckets {
		if !slices.Contains(buckets, bucket) {
			buckets = append(buckets, bucket)
		}
	}

	for _, bucket := range buckets {
		if ctx.Err() != nil {
			return
		}
		if _, err := s.indexer.Reconcile(ctx, bucket); err != nil && ctx.Err() == nil {
			s.logger.Error("reconcile failed", "bucket", bucket, "error", err)
		}
	}
}

// RunReconcile reconciles the buckets once without consuming events, for
// the command line. It returns the first error after trying every bucket.
func (s *Service) RunReconcile(ctx context.Context, buckets []string) ([]ReconcileResult, error) {
	if err := s.store.WaitReady(ctx); err != nil {
		return nil, err
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var workers sync.WaitGroup
	workers.Go(func() { s.indexer.Run(runCtx) })
	defer workers.Wait()
	defer cancel()

	var results []ReconcileResult
	var firstErr error
	for _, bucket := range buckets {
		result, err := s.indexer.Reconcile(ctx, bucket)
		results = append(results, result)
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("reconcile %s: %w", bucket, err)
		}
		if err == nil {
			s.stats.markDirty(bucket)
		}
	}
	s.stats.flush()
	return results, firstErr
}
