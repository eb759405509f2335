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
// one file: the file appears complete in one step (written aside, then
// hard-linked into place), and the loser of the link reads the winner's.
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
	if err := publishOnce(path, fresh); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readSecrets(path)
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

// publishOnce writes secrets to a private temporary file and links it to
// path, so that readers never see a partly written file. It fails with
// fs.ErrExist when path already exists.
func publishOnce(path string, secrets Secrets) error {
	data, err := json.MarshalIndent(secrets, "", "  ")
	if err != nil {
		return fmt.Errorf("encode secrets: %w", err)
	}

	temp, err := os.CreateTemp(filepath.Dir(path), ".secrets-*.json")
	if err != nil {
		return fmt.Errorf("create temporary secrets file: %w", err)
	}
	defer os.Remove(temp.Name())

	if err := temp.Chmod(0o600); err != nil {
		temp.Close()
		return fmt.Errorf("restrict %s: %w", temp.Name(), err)
	}
	if _, err := temp.Write(append(data, '\n')); err != nil {
		temp.Close()
		return fmt.Errorf("write %s: %w", temp.Name(), err)
	}
	if err := temp.Sync(); err != nil {
		temp.Close()
		return fmt.Errorf("flush %s: %w", temp.Name(), err)
	}
	if err := temp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", temp.Name(), err)
	}

	return os.Link(temp.Name(), path)
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
