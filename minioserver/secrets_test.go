package minioserver

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreateSecretsAgreesAcrossConcurrentStarts(t *testing.T) {
	dir := t.TempDir()

	const starters = 8
	results := make([]Secrets, starters)
	errs := make([]error, starters)
	var wg sync.WaitGroup
	for i := range starters {
		wg.Go(func() { results[i], errs[i] = LoadOrCreateSecrets(dir) })
	}
	wg.Wait()

	for i := range starters {
		if errs[i] != nil {
			t.Fatalf("starter %d: %v", i, errs[i])
		}
		if results[i] != results[0] {
			t.Fatalf("starter %d got other secrets than starter 0", i)
		}
	}
	if len(results[0].MinioPassword) < 32 || results[0].MinioUser == "minioadmin" {
		t.Fatalf("weak MinIO credentials: %+v", results[0])
	}

	info, err := os.Stat(filepath.Join(dir, SecretsFile))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("secrets file mode %v, want 0600", info.Mode().Perm())
	}
}

func TestLoadOrCreateSecretsRejectsABrokenFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, SecretsFile), []byte(`{"minio_user": ""}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadOrCreateSecrets(dir)
	if err == nil || !strings.Contains(err.Error(), "credentials are missing") {
		t.Fatalf("got %v, want a clear error", err)
	}
}

func TestEnvNeverUsesDefaults(t *testing.T) {
	config := Config{NATSAddress: "127.0.0.1:4222", NATSSubject: "minio.events", Secrets: Secrets{MinioUser: "u", MinioPassword: "p", NATSUser: "n", NATSPassword: "q"}}
	env := strings.Join(config.Env(), "\n")
	for _, want := range []string{"MINIO_ROOT_USER=u", "MINIO_API_SYNC_EVENTS=on", "MINIO_NOTIFY_NATS_JETSTREAM_ARROWMINO=on", "MINIO_NOTIFY_NATS_SUBJECT_ARROWMINO=minio.events", "MINIO_NOTIFY_NATS_USERNAME_ARROWMINO=n"} {
		if !strings.Contains(env, want) {
			t.Errorf("env lacks %s", want)
		}
	}
}
