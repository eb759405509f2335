// Package minioserver runs the MinIO server as a separate process (it is
// AGPL, so it is never linked into arrow-mino) and keeps the credentials
// that MinIO, the embedded NATS server and the indexer share.
package minioserver

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// SecretsFile is the name of the credentials file inside the data folder.
const SecretsFile = "secrets.json"

// Secrets are generated once per data folder and never take well-known
// defaults.
type Secrets struct {
	MinioUser         string `json:"minio_user"`
	MinioPassword     string `json:"minio_password"`
	NATSUser          string `json:"nats_user"`
	NATSPassword      string `json:"nats_password"`
	SuperuserEmail    string `json:"superuser_email"`
	SuperuserPassword string `json:"superuser_password"`
}

// LoadOrCreateSecrets reads dir/secrets.json, creating it with fresh random
// values when it does not exist. Two processes starting together agree on
// one file: the loser of the exclusive create reads the winner's.
func LoadOrCreateSecrets(dir string) (Secrets, error) {
	path := filepath.Join(dir, SecretsFile)

	secrets, err := readSecrets(path)
	if err == nil {
		return secrets, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return Secrets{}, err
	}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Secrets{}, fmt.Errorf("create data folder %s: %w", dir, err)
	}
	fresh := Secrets{
		MinioUser:         "mino-" + randomToken(8),
		MinioPassword:     randomToken(32),
		NATSUser:          "mino-" + randomToken(8),
		NATSPassword:      randomToken(32),
		SuperuserEmail:    "admin@arrow-mino.local",
		SuperuserPassword: randomToken(20),
	}
	if err := writeExclusive(path, fresh); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readSecretsWhenComplete(path)
		}
		return Secrets{}, err
	}
	return fresh, nil
}

func readSecrets(path string) (Secrets, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Secrets{}, err
	}

	var secrets Secrets
	if err := json.Unmarshal(data, &secrets); err != nil {
		return Secrets{}, fmt.Errorf("read %s: %w", path, err)
	}
	if secrets.MinioUser == "" || secrets.MinioPassword == "" ||
		secrets.NATSUser == "" || secrets.NATSPassword == "" {
		return Secrets{}, fmt.Errorf(
			"read %s: credentials are missing; delete the file to generate new ones", path)
	}
	return secrets, nil
}

// readSecretsWhenComplete waits briefly for a file that another process
// is still writing.
func readSecretsWhenComplete(path string) (Secrets, error) {
	var lastErr error
	for range 50 {
		secrets, err := readSecrets(path)
		if err == nil {
			return secrets, nil
		}
		lastErr = err
		time.Sleep(20 * time.Millisecond)
	}
	return Secrets{}, lastErr
}

func writeExclusive(path string, secrets Secrets) error {
	data, err := json.MarshalIndent(secrets, "", "  ")
	if err != nil {
		return fmt.Errorf("encode secrets: %w", err)
	}

	file, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := file.Write(append(data, '\n')); err != nil {
		file.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return file.Close()
}

// randomToken returns n characters of lowercase letters and digits, safe
// in URLs, environment variables and shell lines.
func randomToken(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

	raw := make([]byte, n)
	rand.Read(raw) // never fails since Go 1.24

	out := make([]byte, n)
	for i, b := range raw {
		out[i] = alphabet[int(b)%len(alphabet)]
	}
	return string(out)
}
