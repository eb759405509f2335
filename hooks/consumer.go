package hooks

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/pocketbase/pocketbase/core"

	"github.com/arrow-mino/arrow-mino/broker"
	"github.com/arrow-mino/arrow-mino/migrations"
)

const (
	// consumerName is the durable consumer; it remembers what was acked
	// across restarts.
	consumerName = "arrow-mino-indexer"

	// ackWait is how long an event may stay unacknowledged before the
	// server delivers it again.
	ackWait = 60 * time.Second

	maxAckPending = 4096

	// retryDelay is how long a failed event waits before it comes back,
	// growing with each attempt up to maxRetryDelay.
	retryDelay    = 2 * time.Second
	maxRetryDelay = time.Minute

	// maxAttempts bounds the deliveries of one event (about 15 minutes of
	// retries). After that it is recorded in ingest_errors and
	// acknowledged: the key is not lost, the next reconcile syncs it.
	maxAttempts = 20
)

// Consumer reads MinIO events from JetStream and hands each key to the
// indexer. An event is acknowledged only after its row is committed; an
// event that cannot be parsed is stored in the ingest_errors collection
// first, so nothing is dropped silently.
type Consumer struct {
	app     core.App
	indexer *Indexer
	logger  *slog.Logger

	// handled, when set, is told of each event acknowledged.
	handled func(time.Time)
}

// NewConsumer binds a consumer to the indexer.
func NewConsumer(app core.App, indexer *Indexer, logger *slog.Logger) *Consumer {
	return &Consumer{app: app, indexer: indexer, logger: logger, handled: func(time.Time) {}}
}

// Run consumes until ctx ends.
func (c *Consumer) Run(ctx context.Context, js jetstream.JetStream) error {
	consumer, err := js.CreateOrUpdateConsumer(ctx, broker.StreamName, jetstream.ConsumerConfig{
		Durable:       consumerName,
		Description:   "arrow-mino: mirrors bucket events into the objects collection",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxAckPending: maxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		FilterSubject: broker.Subject,
	})
	if err != nil {
		return fmt.Errorf("create consumer %s: %w", consumerName, err)
	}

	consumeCtx, err := consumer.Consume(func(msg jetstream.Msg) {
		c.handle(ctx, msg)
	}, jetstream.PullMaxMessages(512))
	if err != nil {
		return fmt.Errorf("consume %s: %w", broker.StreamName, err)
	}
	c.logger.Info("consuming bucket events", "stream", broker.StreamName, "consumer", consumerName)

	<-ctx.Done()
	consumeCtx.Stop()
	return nil
}

func (c *Consumer) handle(ctx context.Context, msg jetstream.Msg) {
	sequence, attempt := uint64(0), uint64(1)
	if meta, err := msg.Metadata(); err == nil {
		sequence, attempt = meta.Sequence.Stream, meta.NumDelivered
	}

	event, err := ParseEvent(msg.Data())
	if err != nil {
		c.quarantine(msg, sequence, err)
		return
	}

	err = c.indexer.Submit(ctx, event.Bucket, event.Key, func(action string, err error) {
		if err != nil && attempt >= maxAttempts {
			c.quarantine(msg, sequence, fmt.Errorf("gave up after %d attempts: %w", attempt, err))
			return
		}
		if err != nil {
			delay := min(retryDelay*time.Duration(attempt), maxRetryDelay)
			c.logger.Warn("event will be retried", "bucket", event.Bucket, "key", event.Key,
				"event", event.Name, "sequence", sequence, "attempt", attempt, "in", delay, "error", err)
			msg.NakWithDelay(delay)
			return
		}
		if err := msg.Ack(); err != nil {
			c.logger.Warn("ack failed; the event will come again", "sequence", sequence, "error", err)
		}
		c.handled(time.Now())
	})
	if err != nil {
		// Shutting down: leave the event unacknowledged for the next run.
		return
	}
}

// quarantine records an event that cannot be used where a person can find
// it, and only then acknowledges it.
func (c *Consumer) quarantine(msg jetstream.Msg, sequence uint64, parseErr error) {
	c.logger.Error("bucket event set aside in ingest_errors",
		"subject", msg.Subject(), "sequence", sequence, "error", parseErr)

	collection, err := c.app.FindCachedCollectionByNameOrId(migrations.IngestErrorsCollection)
	if err == nil {
		record := core.NewRecord(collection)
		record.Set("subject", msg.Subject())
		record.Set("sequence", sequence)
		record.Set("error", truncate(parseErr.Error(), 2000))
		record.Set("payload", truncate(string(msg.Data()), 1<<20))
		err = c.app.Save(record)
	}
	if err != nil {
		c.logger.Error("could not record unreadable event; it will be redelivered",
			"sequence", sequence, "error", err)
		msg.NakWithDelay(retryDelay)
		return
	}
	msg.Ack()
}

func truncate(text string, limit int) string {
	if len(text) <= limit {
		return text
	}
	cut := limit
	for cut > 0 && text[cut]&0xC0 == 0x80 {
		cut--
	}
	return text[:cut]
}
