package blobs

import "context"

// Config chooses a store: the bucket of S3 when it names one, else the directory Dir.
type Config struct {
	Dir string
	S3  S3Config
}

// Open opens the store cfg chooses.
func Open(ctx context.Context, cfg Config) (Store, error) {
	if cfg.S3.Bucket != "" {
		return NewS3(ctx, cfg.S3)
	}
	return NewStore(cfg.Dir)
}
