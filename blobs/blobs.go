// Package blobs stores files (reports, certificates, lender attachments) by content between
// the API, activities and workers, so that file bytes never travel through workflow
// histories: a workflow only carries a File reference. Beside the files it keeps small notes
// that must outlive an attempt or a process (see Store).
//
// Two stores implement Store: a directory (NewStore), the default, for one machine or a
// volume every process mounts; and an S3-compatible bucket (NewS3), shared by workers and API
// replicas on many hosts. Open picks one from a Config.
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
	"regexp"
	"time"
)

// File references stored bytes by their SHA-256.
type File struct {
	SHA256   string `json:"sha256"`
	Size     int64  `json:"size"`
	Name     string `json:"name"`
	MimeType string `json:"mimeType"`
}

// ErrNotFound is returned for bytes or a note the store does not hold.
var ErrNotFound = errors.New("blob not found")

// ErrTooLarge is returned by Put for more bytes than its limit.
var ErrTooLarge = errors.New("blob too large")

// Store keeps content-addressed bytes and notes. Every implementation makes writing the same
// bytes twice a no-op, which makes every writer idempotent, and is safe for concurrent use by
// many processes sharing it.
type Store interface {
	// Put stores the bytes of r and returns their SHA-256 and size. At most limit bytes are
	// read (limit <= 0: no limit); more is an error wrapping ErrTooLarge, and nothing is kept.
	Put(ctx context.Context, r io.Reader, limit int64) (sha string, size int64, err error)
	// PutBytes stores b and returns its SHA-256.
	PutBytes(ctx context.Context, b []byte) (string, error)
	// Open returns the bytes stored under sha, or an error wrapping ErrNotFound. The caller
	// closes the reader.
	Open(ctx context.Context, sha string) (io.ReadCloser, error)
	// Stat returns the size of the bytes stored under sha, or an error wrapping ErrNotFound.
	Stat(ctx context.Context, sha string) (int64, error)

	// Notes are small records kept by key for work that must outlive an attempt or a process:
	// an activity notes an upload slot it obtained from EPC, so that a later attempt, on any
	// worker sharing the store, fills that slot instead of asking for another. They may hold
	// grants: stores keep them private and nobody logs them. A key is lower-case letters,
	// digits and '-', at most 128.

	// PutNote stores b under key, replacing what was there, atomically.
	PutNote(ctx context.Context, key string, b []byte) error
	// Note returns what is stored under key, or an error wrapping ErrNotFound.
	Note(ctx context.Context, key string) ([]byte, error)
	// DeleteNote removes the note under key; a missing note is not an error.
	DeleteNote(ctx context.Context, key string) error

	// Sweeping (see Sweep): bytes nobody references are removed once the grace period after
	// their last Put has passed, unless they are kept.

	// Keep records for good that a workflow references the bytes under sha: Sweep never
	// removes them. Writing a mark twice is a no-op.
	Keep(ctx context.Context, sha string) error
	// List calls fn for every stored file (not the notes, not the marks), in no set order,
	// until fn returns an error, which List returns.
	List(ctx context.Context, fn func(Info) error) error
	// Remove deletes the bytes under sha if they are not kept and were last written before
	// writtenBefore, both checked at the time of the call; it reports whether it did. Missing
	// bytes are not an error.
	Remove(ctx context.Context, sha string, writtenBefore time.Time) (bool, error)
}

// Info describes a stored file.
type Info struct {
	SHA256 string
	Size   int64
	// Written is when the bytes were last written: by the Put that stored them, or a later
	// Put of the same bytes (see RefreshAfter).
	Written time.Time
	// Kept is true when a workflow references the bytes (Keep).
	Kept bool
}

var shaPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ValidSHA256 reports whether s is a lowercase hex SHA-256.
func ValidSHA256(s string) bool { return shaPattern.MatchString(s) }

var noteKeyPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,127}$`)

// checkNoteKey refuses a key that is not a note key (it becomes a file or object name).
func checkNoteKey(key string) error {
	if !noteKeyPattern.MatchString(key) {
		return fmt.Errorf("blobs: note key %q: want lower-case letters, digits and '-', at most 128", key)
	}
	return nil
}

// checkSHA refuses a name that is not a SHA-256 as a missing blob: a caller may pass what a
// client sent.
func checkSHA(sha string) error {
	if !ValidSHA256(sha) {
		return fmt.Errorf("blobs: %q is not a SHA-256: %w", sha, ErrNotFound)
	}
	return nil
}

// putBytes stores b in s unless s holds it already.
func putBytes(ctx context.Context, s Store, b []byte) (string, error) {
	sum := sha256.Sum256(b)
	sha := hex.EncodeToString(sum[:])
	if _, err := s.Stat(ctx, sha); err == nil {
		return sha, nil
	}
	got, _, err := s.Put(ctx, bytes.NewReader(b), 0)
	return got, err
}

// spoolPattern names the temporary files of spool.
const spoolPattern = ".put-*"

// spool copies r into a new temporary file in dir while hashing it, reading at most limit
// bytes (limit <= 0: no limit), and returns the file, synced, positioned at its start. On
// error nothing is left behind; otherwise the caller closes and removes the file.
func spool(ctx context.Context, dir string, r io.Reader, limit int64) (_ *os.File, sha string, n int64, err error) {
	f, err := os.CreateTemp(dir, spoolPattern)
	if err != nil {
		return nil, "", 0, fmt.Errorf("blobs: %w", err)
	}
	defer func() {
		if err != nil {
			discard(f)
		}
	}()
	h := sha256.New()
	src := r
	if limit > 0 {
		src = io.LimitReader(r, limit+1)
	}
	n, err = io.Copy(io.MultiWriter(f, h), ctxReader{ctx, src})
	if err != nil {
		return nil, "", 0, fmt.Errorf("blobs: write: %w", err)
	}
	if limit > 0 && n > limit {
		return nil, "", 0, fmt.Errorf("blobs: larger than %d bytes: %w", limit, ErrTooLarge)
	}
	if err = f.Sync(); err != nil {
		return nil, "", 0, fmt.Errorf("blobs: sync: %w", err)
	}
	if _, err = f.Seek(0, io.SeekStart); err != nil {
		return nil, "", 0, fmt.Errorf("blobs: %w", err)
	}
	return f, hex.EncodeToString(h.Sum(nil)), n, nil
}

// discard closes and removes a spooled file.
func discard(f *os.File) {
	f.Close()
	os.Remove(f.Name())
}

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
