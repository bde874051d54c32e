package blobs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// A directory store keeps its notes 0600 in a 0700 directory: they may hold grants.

// PutNote implements Store.
func (s *Dir) PutNote(_ context.Context, key string, b []byte) error {
	p, err := s.notePath(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("blobs: note: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".note-*")
	if err != nil {
		return fmt.Errorf("blobs: note: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("blobs: note: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("blobs: note: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("blobs: note: %w", err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("blobs: note: %w", err)
	}
	return nil
}

// Note implements Store.
func (s *Dir) Note(_ context.Context, key string) ([]byte, error) {
	p, err := s.notePath(key)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("blobs: note %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blobs: note: %w", err)
	}
	return b, nil
}

// DeleteNote implements Store.
func (s *Dir) DeleteNote(_ context.Context, key string) error {
	p, err := s.notePath(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("blobs: note: %w", err)
	}
	return nil
}

func (s *Dir) notePath(key string) (string, error) {
	if err := checkNoteKey(key); err != nil {
		return "", err
	}
	return filepath.Join(s.dir, "notes", key), nil
}
