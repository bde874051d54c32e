// Package blobs stores files (reports, certificates) by content between the API, activities
// and workers, so that file bytes never travel through workflow histories: a workflow only
// carries a File reference.
package blobs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
)

// File references stored bytes by their SHA-256.
type File struct {
	SHA256   string `json:"sha256"`
	Size     int64  `json:"size"`
	Name     string `json:"name"`
	MimeType string `json:"mimeType"`
}

// ErrNotFound is returned by Open for bytes the store does not hold.
var ErrNotFound = errors.New("blob not found")

var shaPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ValidSHA256 reports whether s is a lowercase hex SHA-256.
func ValidSHA256(s string) bool { return shaPattern.MatchString(s) }

// Store keeps content-addressed bytes in a directory. Writing the same bytes twice is a no-op,
// which makes every writer idempotent. A directory shared by API and workers (a volume in
// production) is all it needs.
type Store struct {
	dir string
}

// NewStore opens (creating) a store in dir.
func NewStore(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("blobs: empty directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("blobs: create %s: %w", dir, err)
	}
	return &Store{dir: dir}, nil
}

// Put stores the bytes of r and returns their SHA-256 and size. At most limit bytes are read
// (limit <= 0: no limit); more is an error.
func (s *Store) Put(ctx context.Context, r io.Reader, limit int64) (sha string, size int64, err error) {
	tmp, err := os.CreateTemp(s.dir, ".put-*")
	if err != nil {
		return "", 0, fmt.Errorf("blobs: %w", err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	h := sha256.New()
	src := r
	if limit > 0 {
		src = io.LimitReader(r, limit+1)
	}
	n, err := io.Copy(io.MultiWriter(tmp, h), ctxReader{ctx, src})
	if err != nil {
		return "", 0, fmt.Errorf("blobs: write: %w", err)
	}
	if limit > 0 && n > limit {
		return "", 0, fmt.Errorf("blobs: larger than %d bytes", limit)
	}
	if err := tmp.Sync(); err != nil {
		return "", 0, fmt.Errorf("blobs: sync: %w", err)
	}
	sha = hex.EncodeToString(h.Sum(nil))
	if err := os.Rename(tmp.Name(), s.path(sha)); err != nil {
		return "", 0, fmt.Errorf("blobs: store: %w", err)
	}
	return sha, n, nil
}

// PutBytes stores b.
func (s *Store) PutBytes(ctx context.Context, b []byte) (string, error) {
	sum := sha256.Sum256(b)
	sha := hex.EncodeToString(sum[:])
	if _, err := os.Stat(s.path(sha)); err == nil {
		return sha, nil
	}
	got, _, err := s.Put(ctx, bytes.NewReader(b), 0)
	return got, err
}

// Open returns the bytes stored under sha. The caller closes the reader.
func (s *Store) Open(_ context.Context, sha string) (*os.File, error) {
	if !ValidSHA256(sha) {
		return nil, fmt.Errorf("blobs: %q is not a SHA-256: %w", sha, ErrNotFound)
	}
	f, err := os.Open(s.path(sha))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("blobs: %s: %w", sha, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blobs: %w", err)
	}
	return f, nil
}

// Has reports whether sha is stored.
func (s *Store) Has(sha string) bool {
	if !ValidSHA256(sha) {
		return false
	}
	_, err := os.Stat(s.path(sha))
	return err == nil
}

func (s *Store) path(sha string) string { return filepath.Join(s.dir, sha) }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
