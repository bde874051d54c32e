package blobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// S3Config locates a bucket of S3-compatible object storage (AWS S3, MinIO, Ceph, R2, …).
type S3Config struct {
	// Endpoint is the service's base URL, e.g. http://minio:9000; empty: AWS S3 of Region.
	Endpoint string
	// Region signs the requests; empty: the AWS SDK's configuration (AWS_REGION, shared
	// config), else us-east-1, which most S3-compatible services accept.
	Region string
	// Bucket holds the store; it must exist. Required.
	Bucket string
	// Prefix is put before every object name, so that one bucket can hold several stores.
	Prefix string
	// PathStyle addresses the bucket as <endpoint>/<bucket> rather than <bucket>.<endpoint>,
	// as most S3-compatible services want.
	PathStyle bool
	// AccessKeyID and SecretAccessKey, both or neither; neither: the AWS SDK's default chain
	// (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, shared credentials files, an instance or
	// task role).
	AccessKeyID, SecretAccessKey string
	// SpoolDir holds an upload while its SHA-256 is computed, which names the object; empty:
	// the system's temporary directory.
	SpoolDir string
	// HTTPClient sends the requests; nil: the SDK's.
	HTTPClient *http.Client
}

// S3 is a Store in an S3 bucket: files as <prefix><sha256>, notes as <prefix>notes/<key>,
// marks of kept files as <prefix>kept/<sha256>.
// Every worker and API replica pointed at the same bucket and prefix shares it. The bucket
// must not be public: notes hold upload grants.
type S3 struct {
	client   *s3.Client
	bucket   string
	prefix   string
	spoolDir string
}

var _ Store = (*S3)(nil)

// maxNoteBytes bounds what Note reads: notes are small records.
const maxNoteBytes = 1 << 20

// NewS3 connects to the bucket of cfg and checks that it can be reached, so that a wrong
// endpoint, bucket or credential fails at start rather than at the first file.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("blobs: S3 bucket is required")
	}
	if (cfg.AccessKeyID == "") != (cfg.SecretAccessKey == "") {
		return nil, errors.New("blobs: S3 access key id and secret access key go together: give both or neither")
	}
	var opts []func(*config.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, config.WithHTTPClient(cfg.HTTPClient))
	}
	ac, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("blobs: S3 configuration: %w", err)
	}
	if ac.Region == "" {
		ac.Region = "us-east-1"
	}
	// Checksums only where S3 requires them: the SDK's default trailing checksums are not
	// understood by every S3-compatible service, and each object is named by its SHA-256.
	ac.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	ac.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	client := s3.NewFromConfig(ac, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
	})
	prefix := cfg.Prefix
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	s := &S3{client: client, bucket: cfg.Bucket, prefix: prefix, spoolDir: cfg.SpoolDir}
	if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(cfg.Bucket)}); err != nil {
		where := cfg.Endpoint
		if where == "" {
			where = "AWS S3 in " + ac.Region
		}
		return nil, fmt.Errorf("blobs: S3 bucket %q at %s: %w", cfg.Bucket, where, err)
	}
	return s, nil
}

// Put implements Store. The bytes are spooled to a local file first: their SHA-256 names
// the object, and S3 wants the length before the body. Bytes the bucket holds are not sent,
// unless they were written more than RefreshAfter ago: sent again, they are young for Sweep.
func (s *S3) Put(ctx context.Context, r io.Reader, limit int64) (string, int64, error) {
	tmp, sha, n, err := spool(ctx, s.spoolDir, r, limit)
	if err != nil {
		return "", 0, err
	}
	defer discard(tmp)
	switch _, written, err := s.head(ctx, s.prefix+sha, sha); {
	case err == nil && time.Since(written) < RefreshAfter:
		return sha, n, nil
	case err != nil && !errors.Is(err, ErrNotFound):
		return "", 0, err
	}
	if _, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + sha), Body: tmp,
		ContentLength: aws.Int64(n), ContentType: aws.String("application/octet-stream"),
	}); err != nil {
		return "", 0, fmt.Errorf("blobs: S3 put %s: %w", sha, err)
	}
	return sha, n, nil
}

// PutBytes implements Store.
func (s *S3) PutBytes(ctx context.Context, b []byte) (string, error) { return putBytes(ctx, s, b) }

// Open implements Store.
func (s *S3) Open(ctx context.Context, sha string) (io.ReadCloser, error) {
	if err := checkSHA(sha); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + sha)})
	if err != nil {
		return nil, s3Error("get", sha, err)
	}
	return out.Body, nil
}

// Stat implements Store.
func (s *S3) Stat(ctx context.Context, sha string) (int64, error) {
	if err := checkSHA(sha); err != nil {
		return 0, err
	}
	size, _, err := s.head(ctx, s.prefix+sha, sha)
	return size, err
}

// head returns the size and time of the object key (name, for errors).
func (s *S3) head(ctx context.Context, key, name string) (int64, time.Time, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return 0, time.Time{}, s3Error("stat", name, err)
	}
	return aws.ToInt64(out.ContentLength), aws.ToTime(out.LastModified), nil
}

// PutNote implements Store. An S3 PUT replaces an object whole, so readers see the old note
// or the new one.
func (s *S3) PutNote(ctx context.Context, key string, b []byte) error {
	if err := checkNoteKey(key); err != nil {
		return err
	}
	if _, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(s.noteKey(key)), Body: bytes.NewReader(b),
		ContentLength: aws.Int64(int64(len(b))), ContentType: aws.String("application/octet-stream"),
	}); err != nil {
		return fmt.Errorf("blobs: S3 put note %s: %w", key, err)
	}
	return nil
}

// Note implements Store.
func (s *S3) Note(ctx context.Context, key string) ([]byte, error) {
	if err := checkNoteKey(key); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.noteKey(key))})
	if err != nil {
		return nil, s3Error("get note", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, maxNoteBytes))
	if err != nil {
		return nil, fmt.Errorf("blobs: S3 get note %s: %w", key, err)
	}
	return b, nil
}

// DeleteNote implements Store.
func (s *S3) DeleteNote(ctx context.Context, key string) error {
	if err := checkNoteKey(key); err != nil {
		return err
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.noteKey(key))}); err != nil {
		if errors.Is(s3Error("delete note", key, err), ErrNotFound) {
			return nil
		}
		return fmt.Errorf("blobs: S3 delete note %s: %w", key, err)
	}
	return nil
}

func (s *S3) noteKey(key string) string { return s.prefix + "notes/" + key }

// s3Error wraps err; a 404 (no such key) also wraps ErrNotFound.
func s3Error(op, name string, err error) error {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound {
		return fmt.Errorf("blobs: S3 %s %s: %w", op, name, ErrNotFound)
	}
	return fmt.Errorf("blobs: S3 %s %s: %w", op, name, err)
}
