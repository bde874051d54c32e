package cli

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/epcflow/epcflow/blobs"
)

// blobFlags choose the store of files and upload notes, shared by the worker and the API.
type blobFlags struct{ cfg blobs.Config }

func (b *blobFlags) register(f *flags) {
	s3 := &b.cfg.S3
	f.str(&b.cfg.Dir, "blob-dir", "EPCFLOW_BLOB_DIR", ".epcflow/blobs", "directory of stored files (reports, certificates) and upload notes, shared by every worker and API process (a volume); unused with --blob-s3-bucket")
	f.str(&s3.Bucket, "blob-s3-bucket", "EPCFLOW_BLOB_S3_BUCKET", "", "S3 `bucket` holding the stored files and upload notes instead of --blob-dir, shared by workers and API replicas on many hosts (it must exist and not be public)")
	f.str(&s3.Endpoint, "blob-s3-endpoint", "EPCFLOW_BLOB_S3_ENDPOINT", "", "base `URL` of an S3-compatible service, e.g. http://minio:9000 (empty: AWS S3)")
	f.str(&s3.Region, "blob-s3-region", "EPCFLOW_BLOB_S3_REGION", "", "S3 region (empty: AWS_REGION or the AWS config, else us-east-1)")
	f.str(&s3.Prefix, "blob-s3-prefix", "EPCFLOW_BLOB_S3_PREFIX", "", "prefix of every object name, to share a bucket between deployments")
	f.boolEnv(&s3.PathStyle, "blob-s3-path-style", "EPCFLOW_BLOB_S3_PATH_STYLE", "address the bucket as <endpoint>/<bucket>, as most S3-compatible services want")
	f.str(&s3.AccessKeyID, "blob-s3-access-key-id", "EPCFLOW_BLOB_S3_ACCESS_KEY_ID", "", "S3 access key id (empty: the AWS default chain: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, shared credentials, an instance or task role)")
	f.secret(&s3.SecretAccessKey, "blob-s3-secret-access-key", "EPCFLOW_BLOB_S3_SECRET_ACCESS_KEY", "", "S3 secret access key, with --blob-s3-access-key-id")
}

// open opens the chosen store and says which, without credentials.
func (b *blobFlags) open(ctx context.Context, log *slog.Logger) (blobs.Store, error) {
	s, err := blobs.Open(ctx, b.cfg)
	if err != nil {
		return nil, err
	}
	if s3 := b.cfg.S3; s3.Bucket != "" {
		log.Info("blob store: S3", "bucket", s3.Bucket, "endpoint", s3.Endpoint, "prefix", s3.Prefix)
	} else {
		log.Info("blob store: directory", "dir", b.cfg.Dir)
	}
	return s, nil
}

// sweepFlags configure the API's sweeper of unreferenced files (blobs.Sweeper).
type sweepFlags struct{ interval, grace time.Duration }

func (w *sweepFlags) register(f *flags) {
	f.duration(&w.interval, "blob-sweep-interval", "EPCFLOW_BLOB_SWEEP_INTERVAL", blobs.DefaultSweepInterval,
		"how often stored files no workflow references (a delivery refused, a crash) are looked for and removed (0: never)")
	f.duration(&w.grace, "blob-grace", "EPCFLOW_BLOB_GRACE", blobs.DefaultGrace,
		"age an unreferenced stored file must reach before it is removed (at least "+blobs.MinGrace.String()+")")
}

func (w *sweepFlags) sweeper(s blobs.Store, log *slog.Logger) blobs.Sweeper {
	return blobs.Sweeper{Store: s, Interval: w.interval, Grace: w.grace, Logger: log}
}

// check refuses what the sweeper would.
func (w *sweepFlags) check() error {
	if w.grace <= 0 {
		return usageErr("--blob-grace %v: must be positive", w.grace)
	}
	if err := w.sweeper(nil, nil).Check(); err != nil {
		return usageErr("--blob-grace / --blob-sweep-interval: %v", err)
	}
	return nil
}

// start runs the sweeper until ctx ends, unless switched off.
func (w *sweepFlags) start(ctx context.Context, s blobs.Store, log *slog.Logger) {
	if w.interval == 0 {
		log.Info("blob sweeper off (--blob-sweep-interval 0): unreferenced files are kept")
		return
	}
	go func() { _ = w.sweeper(s, log).Run(ctx) }()
}

// boolEnv registers a boolean flag that an environment variable may set (true, false, 1, 0…).
func (f *flags) boolEnv(p *bool, name, envVar, usage string) {
	f.Var(boolValue{p}, name, envUsage(usage, envVar, ""))
	f.fromEnv(name, envVar)
}

type boolValue struct{ p *bool }

func (b boolValue) IsBoolFlag() bool { return true }

func (b boolValue) String() string {
	if b.p == nil {
		return "false"
	}
	return strconv.FormatBool(*b.p)
}

func (b boolValue) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	*b.p = v
	return nil
}
