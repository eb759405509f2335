package web

import (
	"context"
	"fmt"
	"time"

	"github.com/minio/minio-go/v7"
)

// MinioPresigner makes preview links with a MinIO client: plain GET URLs
// signed for ttl, so the browser streams media straight from MinIO.
func MinioPresigner(client *minio.Client) PresignFunc {
	return func(ctx context.Context, bucket, key string, ttl time.Duration) (string, error) {
		link, err := client.PresignedGetObject(ctx, bucket, key, ttl, nil)
		if err != nil {
			return "", fmt.Errorf("presign %s/%s: %w", bucket, key, err)
		}
		return link.String(), nil
	}
}
