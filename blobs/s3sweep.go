package blobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Keep implements Store: an empty object <prefix>kept/<sha>.
func (s *S3) Keep(ctx context.Context, sha string) error {
	if !ValidSHA256(sha) {
		return fmt.Errorf("blobs: keep %q: not a SHA-256", sha)
	}
	if _, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(s.keptKey(sha)), Body: bytes.NewReader(nil),
		ContentLength: aws.Int64(0), ContentType: aws.String("application/octet-stream"),
	}); err != nil {
		return fmt.Errorf("blobs: S3 keep %s: %w", sha, err)
	}
	return nil
}

// List implements Store: the marks first (one listing of kept/), then the files (the
// objects at the top of the prefix).
func (s *S3) List(ctx context.Context, fn func(Info) error) error {
	kept := map[string]bool{}
	if err := s.list(ctx, s.prefix+keptDir+"/", func(name string, _ int64, _ time.Time) error {
		kept[name] = true
		return nil
	}); err != nil {
		return err
	}
	return s.list(ctx, s.prefix, func(name string, size int64, written time.Time) error {
		if !ValidSHA256(name) {
			return nil
		}
		return fn(Info{SHA256: name, Size: size, Written: written, Kept: kept[name]})
	})
}

// list calls fn for every object directly under prefix (not below a further "/"), by its
// name without the prefix.
func (s *S3) list(ctx context.Context, prefix string, fn func(name string, size int64, written time.Time) error) error {
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/"),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("blobs: S3 list %s: %w", prefix, err)
		}
		for _, o := range page.Contents {
			name := strings.TrimPrefix(aws.ToString(o.Key), prefix)
			if err := fn(name, aws.ToInt64(o.Size), aws.ToTime(o.LastModified)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Remove implements Store.
func (s *S3) Remove(ctx context.Context, sha string, writtenBefore time.Time) (bool, error) {
	if !ValidSHA256(sha) {
		return false, nil
	}
	switch _, _, err := s.head(ctx, s.keptKey(sha), sha+" mark"); {
	case err == nil:
		return false, nil
	case !errors.Is(err, ErrNotFound):
		return false, err
	}
	_, written, err := s.head(ctx, s.prefix+sha, sha)
	switch {
	case errors.Is(err, ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	case !written.Before(writtenBefore):
		return false, nil
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + sha)}); err != nil {
		return false, s3Error("delete", sha, err)
	}
	return true, nil
}

// removeStaleSpools implements spoolCleaner: a crash during a Put leaves its local spool file.
func (s *S3) removeStaleSpools(before time.Time) (int, error) {
	return removeSpools(s.spoolDir, before)
}

func (s *S3) keptKey(sha string) string { return s.prefix + keptDir + "/" + sha }
