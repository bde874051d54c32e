package blobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Dir is a Store in a directory: files by their SHA-256 at its top, notes under notes/. A
// directory every process mounts (a volume) is all it needs to be shared.
type Dir struct {
	dir string
}

var _ Store = (*Dir)(nil)

// NewStore opens (creating, 0700) a directory store in dir.
func NewStore(dir string) (*Dir, error) {
	if dir == "" {
		return nil, errors.New("blobs: empty directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("blobs: create %s: %w", dir, err)
	}
	return &Dir{dir: dir}, nil
}

// Put implements Store. The bytes land in a temporary file renamed into place, so a reader
// never sees part of a file.
func (s *Dir) Put(ctx context.Context, r io.Reader, limit int64) (string, int64, error) {
	tmp, sha, n, err := spool(ctx, s.dir, r, limit)
	if err != nil {
		return "", 0, err
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	if err := os.Rename(tmp.Name(), s.path(sha)); err != nil {
		return "", 0, fmt.Errorf("blobs: store: %w", err)
	}
	return sha, n, nil
}

// PutBytes implements Store.
func (s *Dir) PutBytes(ctx context.Context, b []byte) (string, error) { return putBytes(ctx, s, b) }

// Open implements Store.
func (s *Dir) Open(_ context.Context, sha string) (io.ReadCloser, error) {
	if err := checkSHA(sha); err != nil {
		return nil, err
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

// Stat implements Store.
func (s *Dir) Stat(_ context.Context, sha string) (int64, error) {
	if err := checkSHA(sha); err != nil {
		return 0, err
	}
	fi, err := os.Stat(s.path(sha))
	if errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("blobs: %s: %w", sha, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("blobs: %w", err)
	}
	return fi.Size(), nil
}

func (s *Dir) path(sha string) string { return filepath.Join(s.dir, sha) }
