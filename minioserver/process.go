package minioserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// TargetID names MinIO's NATS notification target; buckets are attached to
// its ARN.
const TargetID = "ARROWMINO"

// TargetARN is the ARN that bucket notifications point at.
const TargetARN = "arn:minio:sqs::" + TargetID + ":nats"

const stopGrace = 10 * time.Second

// Config describes one MinIO server process.
type Config struct {
	// Binary is the minio executable.
	Binary string

	// DataDir holds the objects.
	DataDir string

	// Address and ConsoleAddress are host:port to listen on.
	Address        string
	ConsoleAddress string

	// NATSAddress is host:port of the NATS server MinIO publishes events to,
	// on NATSSubject.
	NATSAddress string
	NATSSubject string

	// Secrets carry the root and NATS credentials.
	Secrets Secrets
}

// Env is the environment MinIO runs with: generated root credentials and
// one NATS target with JetStream on.
//
// Events are sent synchronously without a queue folder: each event is in
// the stream before the PUT returns, at no measurable cost while NATS is up.
// While NATS is down those events are lost (MinIO logs them) and the
// indexer's reconcile pass restores the missing rows.
func (c Config) Env() []string {
	suffix := "_" + TargetID
	return []string{
		"MINIO_ROOT_USER=" + c.Secrets.MinioUser,
		"MINIO_ROOT_PASSWORD=" + c.Secrets.MinioPassword,
		"MINIO_API_SYNC_EVENTS=on",
		"MINIO_UPDATE=off",
		"MINIO_NOTIFY_NATS_ENABLE" + suffix + "=on",
		"MINIO_NOTIFY_NATS_ADDRESS" + suffix + "=" + c.NATSAddress,
		"MINIO_NOTIFY_NATS_SUBJECT" + suffix + "=" + c.NATSSubject,
		"MINIO_NOTIFY_NATS_USERNAME" + suffix + "=" + c.Secrets.NATSUser,
		"MINIO_NOTIFY_NATS_PASSWORD" + suffix + "=" + c.Secrets.NATSPassword,
		"MINIO_NOTIFY_NATS_JETSTREAM" + suffix + "=on",
	}
}

// FindBinary returns the minio executable: beside this program, then in
// .bin/ under the working folder, then on PATH.
func FindBinary() (string, error) {
	candidates := []string{}
	if self, err := os.Executable(); err == nil {
		candidates = append(candidates, filepath.Join(filepath.Dir(self), "minio"))
	}
	candidates = append(candidates, filepath.Join(".bin", "minio"))
	for _, path := range candidates {
		if info, err := os.Stat(path); err == nil && !info.IsDir() {
			return filepath.Abs(path)
		}
	}
	if path, err := exec.LookPath("minio"); err == nil {
		return path, nil
	}
	return "", errors.New("minio server not found: run `make 0-dep` to build it into .bin/")
}

// Run starts MinIO and waits for it to exit. Cancelling ctx stops it with
// SIGTERM, then SIGKILL after a grace period.
func Run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("create MinIO data folder: %w", err)
	}

	cmd := exec.Command(cfg.Binary, "server", cfg.DataDir,
		"--address", cfg.Address,
		"--console-address", cfg.ConsoleAddress,
		"--quiet")
	cmd.Env = append(os.Environ(), cfg.Env()...)
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}

	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start MinIO %s: %w", cfg.Binary, err)
	}
	logger.Info("MinIO started", "pid", cmd.Process.Pid,
		"s3", "http://"+cfg.Address, "console", "http://"+cfg.ConsoleAddress,
		"nats", cfg.NATSAddress)

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	select {
	case err := <-exited:
		if err != nil {
			return fmt.Errorf("MinIO exited: %w", err)
		}
		return nil
	case <-ctx.Done():
	}

	syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(stopGrace):
		logger.Warn("MinIO did not stop in time; killing it", "grace", stopGrace)
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	logger.Info("MinIO stopped")
	return nil
}
