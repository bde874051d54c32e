package blobs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
)

// Notes are small records kept beside the files, by key, for work that must outlive an
// attempt or a process: an activity notes an upload slot it obtained from EPC, so that a
// later attempt, on any worker sharing the directory, fills that slot instead of asking for
// another. They may hold grants, so they are written 0600 in a 0700 directory and never logged.

var noteKeyPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,127}$`)

// PutNote stores b under key, replacing what was there, atomically.
func (s *Store) PutNote(key string, b []byte) error {
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

// Note returns what is stored under key, or an error wrapping ErrNotFound.
func (s *Store) Note(key string) ([]byte, error) {
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

// DeleteNote removes the note under key; a missing note is not an error.
func (s *Store) DeleteNote(key string) error {
	p, err := s.notePath(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("blobs: note: %w", err)
	}
	return nil
}

func (s *Store) notePath(key string) (string, error) {
	if !noteKeyPattern.MatchString(key) {
		return "", fmt.Errorf("blobs: note key %q: want lower-case letters, digits and '-', at most 128", key)
	}
	return filepath.Join(s.dir, "notes", key), nil
}
