// Package broker connects arrow-mino to NATS JetStream: it runs the embedded
// nats-server by default, or dials an external one, and owns the stream that
// MinIO publishes bucket events to.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Names shared with the MinIO notification target.
const (
	// StreamName is the JetStream stream that holds MinIO bucket events.
	StreamName = "MINIO_EVENTS"

	// Subject is the single subject MinIO's NATS target publishes to.
	Subject = "minio.events"

	// DefaultListen is where the embedded server listens: loopback only.
	DefaultListen = "127.0.0.1:4222"

	// streamMaxAge bounds how long the program may be stopped before events
	// expire; reconcile covers anything older.
	streamMaxAge = 7 * 24 * time.Hour

	readyTimeout = 15 * time.Second
)

// Options says which NATS to use. With URL empty an embedded server is
// started on Listen with JetStream stored under StoreDir.
type Options struct {
	// URL of an external NATS server (nats://user:pass@host:port); empty
	// starts the embedded server.
	URL string

	// Listen is the embedded server's host:port. Default DefaultListen.
	Listen string

	// StoreDir holds the embedded server's JetStream files.
	StoreDir string

	// Username and Password protect the embedded server; MinIO's NATS
	// target and the indexer both log in with them.
	Username string
	Password string
}

// Broker is a live NATS connection with JetStream, and the embedded server
// behind it when there is one.
type Broker struct {
	embedded *server.Server
	conn     *nats.Conn
	js       jetstream.JetStream
	logger   *slog.Logger
}

// Start starts the embedded server (or dials the external one) and waits
// until JetStream answers.
func Start(opts Options, logger *slog.Logger) (*Broker, error) {
	b := &Broker{logger: logger.With("component", "broker")}

	url := opts.URL
	var connectOpts []nats.Option
	if url == "" {
		embedded, clientURL, err := startEmbedded(opts)
		if err != nil {
			return nil, err
		}
		b.embedded = embedded
		url = clientURL
		connectOpts = append(connectOpts, nats.UserInfo(opts.Username, opts.Password))
		b.logger.Info("embedded NATS started", "listen", embedded.Addr().String(), "store", opts.StoreDir)
	}

	connectOpts = append(connectOpts,
		nats.Name("arrow-mino"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				b.logger.Warn("NATS disconnected", "error", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			b.logger.Info("NATS reconnected", "url", c.ConnectedUrlRedacted())
		}),
	)
	conn, err := nats.Connect(url, connectOpts...)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("connect to NATS: %w", err)
	}
	b.conn = conn

	js, err := jetstream.New(conn)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("open JetStream: %w", err)
	}
	b.js = js

	return b, nil
}

func startEmbedded(opts Options) (*server.Server, string, error) {
	if opts.Username == "" || opts.Password == "" {
		return nil, "", errors.New("embedded NATS needs a username and password")
	}

	listen := opts.Listen
	if listen == "" {
		listen = DefaultListen
	}
	host, portText, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, "", fmt.Errorf("parse NATS listen address %q: %w", listen, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, "", fmt.Errorf("parse NATS port %q: %w", portText, err)
	}

	serverOpts := &server.Options{
		ServerName: "arrow-mino",
		Host:       host,
		Port:       port,
		Username:   opts.Username,
		Password:   opts.Password,
		JetStream:  true,
		StoreDir:   opts.StoreDir,
		NoSigs:     true,
		NoLog:      true,
		// MinIO's events are about 1 KB; the default 1 MB payload is plenty.
	}
	embedded, err := server.NewServer(serverOpts)
	if err != nil {
		return nil, "", fmt.Errorf("configure embedded NATS: %w", err)
	}
	go embedded.Start()

	if !embedded.ReadyForConnections(readyTimeout) {
		embedded.Shutdown()
		return nil, "", fmt.Errorf("embedded NATS on %s not ready after %s", listen, readyTimeout)
	}
	return embedded, embedded.ClientURL(), nil
}

// JetStream returns the JetStream context of the live connection.
func (b *Broker) JetStream() jetstream.JetStream { return b.js }

// Connected reports whether the NATS connection is up right now.
func (b *Broker) Connected() bool { return b.conn != nil && b.conn.IsConnected() }

// Address is host:port of the embedded server, or "" with an external one.
func (b *Broker) Address() string {
	if b.embedded == nil {
		return ""
	}
	return b.embedded.Addr().String()
}

// EnsureStream creates the events stream, or updates it to our settings.
// MinIO's JetStream publishes fail until it exists.
func (b *Broker) EnsureStream(ctx context.Context) (jetstream.Stream, error) {
	stream, err := b.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StreamName,
		Description: "MinIO bucket events for the arrow-mino indexer",
		Subjects:    []string{Subject},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      streamMaxAge,
	})
	if err != nil {
		return nil, fmt.Errorf("create stream %s: %w", StreamName, err)
	}
	return stream, nil
}

// Close drains the connection and stops the embedded server.
func (b *Broker) Close() {
	if b.conn != nil {
		b.conn.Close()
	}
	if b.embedded != nil {
		b.embedded.Shutdown()
		b.embedded.WaitForShutdown()
	}
}
