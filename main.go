// Command arrow-mino turns a MinIO object store into a live, queryable
// SQLite index: a PocketBase application that mirrors bucket events into
// collections and serves the same database over Arrow Flight SQL.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/pocketbase/pocketbase"
	"github.com/pocketbase/pocketbase/core"
	"github.com/spf13/cobra"

	"github.com/arrow-mino/arrow-mino/broker"
	"github.com/arrow-mino/arrow-mino/flight"
	"github.com/arrow-mino/arrow-mino/hooks"
	"github.com/arrow-mino/arrow-mino/media"
	_ "github.com/arrow-mino/arrow-mino/migrations"
	"github.com/arrow-mino/arrow-mino/minioserver"
	"github.com/arrow-mino/arrow-mino/procfile"
	"github.com/arrow-mino/arrow-mino/web"
)

// defaultDataDir keeps PocketBase's files under .data/, beside MinIO's
// objects, NATS's streams and the generated secrets.
const defaultDataDir = ".data/pb_data"

// settings are arrow-mino's own flags, shared by every subcommand.
type settings struct {
	s3Endpoint     string
	s3Console      string
	buckets        []string
	natsURL        string
	natsListen     string
	flightAddr     string
	flightTLSCert  string
	flightTLSKey   string
	flightReaders  bool
	reconcileEvery time.Duration
	logLevel       string
}

func main() {
	// These commands need no database; PocketBase would open (and migrate)
	// it before running any of its commands, racing the `serve` process
	// that the Procfile starts beside them.
	if len(os.Args) > 1 && slices.Contains([]string{"minio", "up", "secrets", "probe"}, os.Args[1]) {
		os.Exit(runToolCommand())
	}

	app := pocketbase.NewWithConfig(pocketbase.Config{DefaultDataDir: defaultDataDir})

	// The check warns because arrow-go needs a newer modernc.org/sqlite than
	// PocketBase pins; its libc matches that sqlite's own go.mod, which is
	// the pairing the check exists to protect.
	app.OnBootstrap().Unbind(pocketbase.ModerncDepsCheckHookId)

	cfg := bindFlags(app.RootCmd)
	logger := newLogger(cfg)

	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		return startServices(se, cfg, logger)
	})

	// minio, up, secrets and probe run through runToolCommand; they are
	// listed here so that --help shows them.
	dataDir := func() string { return app.DataDir() }
	app.RootCmd.AddCommand(minioCommand(dataDir, cfg, logger))
	app.RootCmd.AddCommand(upCommand())
	app.RootCmd.AddCommand(secretsCommand(dataDir))
	app.RootCmd.AddCommand(reconcileCommand(app, cfg, logger))
	app.RootCmd.AddCommand(media.ProbeCommand())

	if err := app.Start(); err != nil {
		logger.Error("arrow-mino stopped", "error", err)
		os.Exit(1)
	}
}

func bindFlags(root *cobra.Command) *settings {
	cfg := &settings{}
	flags := root.PersistentFlags()
	flags.StringVar(&cfg.s3Endpoint, "s3", envOr("ARROW_MINO_S3", "127.0.0.1:9000"),
		"MinIO S3 endpoint host:port (env ARROW_MINO_S3)")
	flags.StringVar(&cfg.s3Console, "s3-console", "127.0.0.1:9001",
		"where the minio command serves MinIO's console")
	flags.StringSliceVar(&cfg.buckets, "buckets", []string{"demo"},
		"buckets to create, watch and index")
	flags.StringVar(&cfg.natsURL, "nats-url", os.Getenv("ARROW_MINO_NATS_URL"),
		"external NATS URL nats://user:pass@host:port; empty runs NATS embedded (env ARROW_MINO_NATS_URL)")
	flags.StringVar(&cfg.natsListen, "nats-listen", broker.DefaultListen,
		"where the embedded NATS server listens")
	flags.StringVar(&cfg.flightAddr, "flight", "127.0.0.1:8091",
		"Flight SQL listen address")
	flags.StringVar(&cfg.flightTLSCert, "flight-tls-cert", "",
		"PEM certificate for Flight SQL over TLS (with --flight-tls-key)")
	flags.StringVar(&cfg.flightTLSKey, "flight-tls-key", "",
		"PEM private key for Flight SQL over TLS")
	flags.BoolVar(&cfg.flightReaders, "flight-readers", false,
		"let non-superuser auth records query (never write) over Flight SQL")
	flags.DurationVar(&cfg.reconcileEvery, "reconcile-every", hooks.DefaultReconcileEvery,
		"period of scheduled bucket reconciles (negative turns them off)")
	flags.StringVar(&cfg.logLevel, "log-level", "info", "debug, info, warn or error")
	return cfg
}

func newLogger(cfg *settings) *slog.Logger {
	level := new(slog.LevelVar)
	handler := slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})
	logger := slog.New(handler)

	// The flag is parsed later; read it lazily through the LevelVar.
	cobra.OnInitialize(func() {
		if err := level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
			logger.Warn("unknown log level; using info", "level", cfg.logLevel)
		}
	})
	return logger
}

func envOr(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}

// runToolCommand runs the commands that need no database without
// PocketBase.
func runToolCommand() int {
	root := &cobra.Command{Use: "arrow-mino", SilenceUsage: true}
	cfg := bindFlags(root)
	dir := root.PersistentFlags().String("dir", defaultDataDir,
		"the PocketBase data folder; its parent holds MinIO's data and secrets.json")
	logger := newLogger(cfg)

	root.AddCommand(minioCommand(func() string { return *dir }, cfg, logger))
	root.AddCommand(upCommand())
	root.AddCommand(secretsCommand(func() string { return *dir }))
	root.AddCommand(media.ProbeCommand())
	if err := root.Execute(); err != nil {
		return 1
	}
	return 0
}

// dataRoot is the folder that holds pb_data, MinIO's objects, NATS's
// streams and secrets.json: the parent of PocketBase's data folder.
func dataRoot(app core.App) string {
	return filepath.Dir(app.DataDir())
}

// ingestConfig assembles the ingest service's settings from flags, the
// environment and the generated secrets.
func ingestConfig(app core.App, cfg *settings) (hooks.Config, minioserver.Secrets, error) {
	secrets, err := minioserver.LoadOrCreateSecrets(dataRoot(app))
	if err != nil {
		return hooks.Config{}, secrets, err
	}

	config := hooks.Config{
		S3Endpoint:     cfg.s3Endpoint,
		S3AccessKey:    envOr("ARROW_MINO_S3_ACCESS_KEY", secrets.MinioUser),
		S3SecretKey:    envOr("ARROW_MINO_S3_SECRET_KEY", secrets.MinioPassword),
		S3Secure:       os.Getenv("ARROW_MINO_S3_SECURE") == "true",
		Buckets:        cfg.buckets,
		TargetARN:      minioserver.TargetARN,
		ReconcileEvery: cfg.reconcileEvery,
		Broker: broker.Options{
			URL:      cfg.natsURL,
			Listen:   cfg.natsListen,
			StoreDir: filepath.Join(dataRoot(app), "nats"),
			Username: secrets.NATSUser,
			Password: secrets.NATSPassword,
		},
	}
	return config, secrets, nil
}

// startServices runs ingest and Flight SQL beside PocketBase's HTTP server
// and stops them before PocketBase closes its databases.
func startServices(se *core.ServeEvent, cfg *settings, logger *slog.Logger) error {
	if (cfg.flightTLSCert == "") != (cfg.flightTLSKey == "") {
		return errors.New("--flight-tls-cert and --flight-tls-key go together")
	}

	config, secrets, err := ingestConfig(se.App, cfg)
	if err != nil {
		return err
	}
	if err := ensureSuperuser(se.App, secrets, logger); err != nil {
		return err
	}

	ingest, err := hooks.NewService(se.App, config, logger)
	if err != nil {
		return err
	}
	if err := ingest.Start(); err != nil {
		return fmt.Errorf("start ingest: %w", err)
	}

	flightServer := flight.New(se.App, flight.Options{
		Addr:              cfg.flightAddr,
		TLSCertFile:       cfg.flightTLSCert,
		TLSKeyFile:        cfg.flightTLSKey,
		AllowReadOnlyRole: cfg.flightReaders,
	})
	if err := flightServer.Start(); err != nil {
		ingest.Stop()
		return fmt.Errorf("start Flight SQL on %s: %w", cfg.flightAddr, err)
	}

	se.App.OnTerminate().BindFunc(func(e *core.TerminateEvent) error {
		flightServer.Stop()
		ingest.Stop()
		return e.Next()
	})

	webOptions := web.Options{
		Logger:      logger,
		Presign:     web.MinioPresigner(ingest.Store().Client()),
		MediaOrigin: ingest.Store().Client().EndpointURL().String(),
		Health:      healthReporter(ingest, flightServer.Addr()),
	}
	if err := web.Register(se, webOptions); err != nil {
		return fmt.Errorf("start web interface: %w", err)
	}

	printWelcome(se, cfg, secrets, flightServer.Addr(), ingest.BrokerAddress())
	return se.Next()
}

// healthReporter tells the web overview how MinIO, NATS, Flight SQL and
// ingest are doing.
func healthReporter(ingest *hooks.Service, flightAddr string) web.HealthFunc {
	return func(ctx context.Context) web.Health {
		status := ingest.Status(ctx)

		var dialer net.Dialer
		dialCtx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		flightUp := false
		if conn, err := dialer.DialContext(dialCtx, "tcp", flightAddr); err == nil {
			conn.Close()
			flightUp = true
		}

		return web.Health{
			Services: []web.ServiceHealth{
				{Name: "MinIO", OK: status.MinIOOnline},
				{Name: "NATS", OK: status.NATSConnected},
				{Name: "Flight SQL", OK: flightUp, Detail: flightAddr},
			},
			EventsPerSecond: status.EventsPerSecond,
			Backlog:         status.Backlog,
			LastEvent:       status.LastEvent,
		}
	}
}

// ensureSuperuser creates the first superuser from the generated secrets,
// so a new user can log in to the dashboard and Flight SQL at once.
func ensureSuperuser(app core.App, secrets minioserver.Secrets, logger *slog.Logger) error {
	total, err := app.CountRecords(core.CollectionNameSuperusers)
	if err != nil {
		return fmt.Errorf("count superusers: %w", err)
	}
	if total > 0 {
		return nil
	}

	collection, err := app.FindCachedCollectionByNameOrId(core.CollectionNameSuperusers)
	if err != nil {
		return fmt.Errorf("find superusers collection: %w", err)
	}
	superuser := core.NewRecord(collection)
	superuser.SetEmail(secrets.SuperuserEmail)
	superuser.SetPassword(secrets.SuperuserPassword)
	if err := app.Save(superuser); err != nil {
		return fmt.Errorf("create first superuser: %w", err)
	}
	logger.Info("first superuser created", "email", secrets.SuperuserEmail)
	return nil
}

func printWelcome(se *core.ServeEvent, cfg *settings, secrets minioserver.Secrets,
	flightAddr, natsAddr string) {
	httpAddr := "127.0.0.1:8090"
	if se.Server != nil && se.Server.Addr != "" {
		httpAddr = se.Server.Addr
	}
	nats := cfg.natsURL
	if parsed, err := url.Parse(cfg.natsURL); err == nil {
		nats = parsed.Redacted()
	}
	if natsAddr != "" {
		nats = "nats://" + natsAddr + " (embedded)"
	}

	lines := []string{
		"",
		"arrow-mino is up.",
		"  Web UI:      http://" + httpAddr + "/ui/",
		"  Dashboard:   http://" + httpAddr + "/_/",
		"  REST API:    http://" + httpAddr + "/api/collections/objects/records",
		"  Flight SQL:  " + flightScheme(cfg) + flightAddr,
		"  MinIO S3:    http://" + cfg.s3Endpoint + "  (buckets: " + strings.Join(cfg.buckets, ", ") + ")",
		"  NATS:        " + nats,
		"",
		"  Log in (dashboard and Flight SQL): " + secrets.SuperuserEmail,
		"  Passwords and MinIO keys: " + filepath.Join(dataRoot(se.App), minioserver.SecretsFile),
		"",
	}
	fmt.Fprintln(os.Stderr, strings.Join(lines, "\n"))
}

// flightScheme is how Flight SQL clients name the server's transport.
func flightScheme(cfg *settings) string {
	if cfg.flightTLSCert != "" {
		return "grpc+tls://"
	}
	return "grpc://"
}

// minioCommand runs the MinIO server as a child process with the secrets
// and NATS target that `serve` expects.
func minioCommand(pbDataDir func() string, cfg *settings, logger *slog.Logger) *cobra.Command {
	return &cobra.Command{
		Use:   "minio",
		Short: "Run the MinIO server (a separate process) wired to arrow-mino's NATS",
		RunE: func(cmd *cobra.Command, args []string) error {
			root := filepath.Dir(pbDataDir())
			secrets, err := minioserver.LoadOrCreateSecrets(root)
			if err != nil {
				return err
			}
			binary, err := minioserver.FindBinary()
			if err != nil {
				return err
			}
			natsAddress, err := natsAddressFor(cfg)
			if err != nil {
				return err
			}
			// An external NATS has its own credentials, given in its URL.
			if parsed, err := url.Parse(cfg.natsURL); err == nil && parsed.User != nil {
				secrets.NATSUser = parsed.User.Username()
				secrets.NATSPassword, _ = parsed.User.Password()
			}

			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return minioserver.Run(ctx, minioserver.Config{
				Binary:         binary,
				DataDir:        filepath.Join(root, "minio"),
				Address:        cfg.s3Endpoint,
				ConsoleAddress: cfg.s3Console,
				NATSAddress:    natsAddress,
				NATSSubject:    broker.Subject,
				Secrets:        secrets,
			}, logger.With("component", "minio"))
		},
	}
}

// secretsCommand creates the generated credentials when missing and says
// where they are.
func secretsCommand(pbDataDir func() string) *cobra.Command {
	return &cobra.Command{
		Use:   "secrets",
		Short: "Generate the credentials file if missing and print its path",
		RunE: func(cmd *cobra.Command, args []string) error {
			root := filepath.Dir(pbDataDir())
			secrets, err := minioserver.LoadOrCreateSecrets(root)
			if err != nil {
				return err
			}
			fmt.Println(filepath.Join(root, minioserver.SecretsFile))
			fmt.Println("superuser:", secrets.SuperuserEmail)
			return nil
		},
	}
}

// natsAddressFor is the host:port MinIO publishes to: the external server's
// when one is configured, else the embedded one's.
func natsAddressFor(cfg *settings) (string, error) {
	if cfg.natsURL == "" {
		return cfg.natsListen, nil
	}
	rest := cfg.natsURL
	if _, after, ok := strings.Cut(rest, "://"); ok {
		rest = after
	}
	if _, after, ok := strings.Cut(rest, "@"); ok {
		rest = after
	}
	if _, _, err := net.SplitHostPort(rest); err != nil {
		return "", fmt.Errorf("NATS URL %q has no host:port: %w", cfg.natsURL, err)
	}
	return rest, nil
}

// reconcileCommand lists buckets and merges them with the index, once.
func reconcileCommand(app *pocketbase.PocketBase, cfg *settings, logger *slog.Logger) *cobra.Command {
	return &cobra.Command{
		Use:   "reconcile [bucket...]",
		Short: "List buckets and make the index match them (all watched buckets by default)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := app.RunAppMigrations(); err != nil {
				return fmt.Errorf("apply migrations: %w", err)
			}
			config, _, err := ingestConfig(app, cfg)
			if err != nil {
				return err
			}
			service, err := hooks.NewService(app, config, logger)
			if err != nil {
				return err
			}

			buckets := args
			if len(buckets) == 0 {
				buckets = cfg.buckets
			}
			return runUntilTerminated(app, func(ctx context.Context) error {
				results, err := service.RunReconcile(ctx, buckets)
				for _, r := range results {
					fmt.Printf("%s: listed %d, created %d, updated %d, deleted %d, failed %d in %s\n",
						r.Bucket, r.Listed, r.Created, r.Updated, r.Deleted, r.Failed,
						r.Duration.Round(time.Millisecond))
				}
				return err
			})
		},
	}
}

// upCommand runs every process of a Procfile with prefixed logs.
func upCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "up [Procfile]",
		Short: "Run every process of the Procfile (default ./Procfile); Ctrl-C stops them all",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "Procfile"
			if len(args) == 1 {
				path = args[0]
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			err := procfile.Run(ctx, path, os.Stdout)
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		},
	}
}

// runUntilTerminated runs fn until it returns or the process is told to
// stop. PocketBase answers SIGINT/SIGTERM by running its terminate hooks
// and exiting, so the hook added here cancels fn and waits for it: child
// processes are stopped and writes finish before the databases close.
func runUntilTerminated(app *pocketbase.PocketBase, fn func(ctx context.Context) error) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	finished := make(chan struct{})
	app.OnTerminate().BindFunc(func(e *core.TerminateEvent) error {
		stop()
		<-finished
		return e.Next()
	})

	err := fn(ctx)
	close(finished)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
