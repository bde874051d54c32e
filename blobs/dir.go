package blobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Dir is a Store in a directory: files by their SHA-256 at its top, notes under notes/, marks
// of kept files under kept/. A
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
	defer discard(tmp)
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

// A directory store marks a kept file with an empty file kept/<sha>.

// Keep implements Store.
func (s *Dir) Keep(_ context.Context, sha string) error {
	if !ValidSHA256(sha) {
		return fmt.Errorf("blobs: keep %q: not a SHA-256", sha)
	}
	dir := filepath.Join(s.dir, keptDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("blobs: keep: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, sha), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("blobs: keep: %w", err)
	}
	return f.Close()
}

// List implements Store.
func (s *Dir) List(_ context.Context, fn func(Info) error) error {
	kept := map[string]bool{}
	marks, err := os.ReadDir(filepath.Join(s.dir, keptDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("blobs: list: %w", err)
	}
	for _, m := range marks {
		kept[m.Name()] = true
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("blobs: list: %w", err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !ValidSHA256(e.Name()) {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, os.ErrNotExist) {
			continue // removed since the listing
		}
		if err != nil {
			return fmt.Errorf("blobs: list: %w", err)
		}
		if err := fn(Info{SHA256: e.Name(), Size: fi.Size(), Written: fi.ModTime(), Kept: kept[e.Name()]}); err != nil {
			return err
		}
	}
	return nil
}

// Remove implements Store.
func (s *Dir) Remove(_ context.Context, sha string, writtenBefore time.Time) (bool, error) {
	if err := checkSHA(sha); err != nil {
		return false, nil
	}
	if _, err := os.Stat(filepath.Join(s.dir, keptDir, sha)); err == nil {
		return false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("blobs: remove: %w", err)
	}
	fi, err := os.Stat(s.path(sha))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("blobs: remove: %w", err)
	case !fi.ModTime().Before(writtenBefore):
		return false, nil
	}
	if err := os.Remove(s.path(sha)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("blobs: remove: %w", err)
	}
	return true, nil
}

// removeStaleSpools implements spoolCleaner: a crash during a Put leaves its temporary file.
func (s *Dir) removeStaleSpools(before time.Time) (int, error) { return removeSpools(s.dir, before) }

const keptDir = "kept"
