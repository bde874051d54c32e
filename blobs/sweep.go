package blobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// Sweeping unreferenced files.
//
// The API stores an operator's report before the workflow has said whether it takes it: the
// order may be canceled meanwhile, another field of the form may be invalid, or the process
// may crash between the store and the update. Such bytes are referenced by no workflow and
// would stay for ever. Sweep removes them; nothing else ever deletes a file.
//
// A file is safe from Sweep when either holds:
//
//   - it is kept: Keep wrote a mark (a file kept/<sha> beside a directory store's files, an
//     object <prefix>kept/<sha> in a bucket) for it. The API marks a report once the workflow
//     accepted the delivery; the upload activity marks the file it uploads before it reads
//     it, and the flood activity the certificate it makes, so a file a workflow references is
//     marked even if the API died before it could. Marks are never removed: the store is
//     content-addressed, so the same bytes may be referenced by several orders, and a mark
//     removed for one could expose the file another still needs.
//   - it is young: it was written less than the grace period ago. Every Put of bytes the
//     store holds already refreshes their time (a directory store rewrites the file; a
//     bucket re-sends an object last written more than RefreshAfter ago), so a report
//     delivered again just now is young even if the same bytes were stored long ago.
//
// The grace period (Sweeper.Grace, default 24 h, at least MinGrace) must be longer than a
// delivery can take from Put to the workflow's answer plus the time before the upload
// activity first runs: only an outage of every worker longer than that could leave a
// referenced file unmarked when it turns old.
//
// Sweep lists the files once, then asks the store to remove each old unmarked one; Remove
// checks the mark and the time again at that moment, so a Put or a Keep that happened since
// the listing saves the file. Every process sharing a store may run a sweeper: removals are
// idempotent.

// RefreshAfter is how old stored bytes must be for a Put of the same bytes to refresh their
// time in a bucket (a directory store always does): one extra upload at most per hour and
// file, and a time never older than this after a Put.
const RefreshAfter = time.Hour

// Defaults of a Sweeper.
const (
	DefaultSweepInterval = time.Hour
	DefaultGrace         = 24 * time.Hour
	// MinGrace is the shortest grace period a Sweeper takes: more than RefreshAfter, so that
	// bytes Put again are never old.
	MinGrace = 2 * RefreshAfter
)

// SweepResult counts what a sweep saw and did.
type SweepResult struct {
	Files, Kept, Young, Removed int
	RemovedBytes                int64
}

// Sweep removes from s the files that are not kept and were last written before
// now - grace (see above).
func Sweep(ctx context.Context, s Store, grace time.Duration, now time.Time) (SweepResult, error) {
	var r SweepResult
	before := now.Add(-grace)
	var old []Info
	err := s.List(ctx, func(i Info) error {
		r.Files++
		switch {
		case i.Kept:
			r.Kept++
		case !i.Written.Before(before):
			r.Young++
		default:
			old = append(old, i)
		}
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("blobs: sweep: %w", err)
	}
	var errs []error
	if c, ok := s.(spoolCleaner); ok {
		if _, err := c.removeStaleSpools(before); err != nil {
			errs = append(errs, err)
		}
	}
	for _, i := range old {
		removed, err := s.Remove(ctx, i.SHA256, before)
		switch {
		case err != nil:
			errs = append(errs, err)
		case removed:
			r.Removed++
			r.RemovedBytes += i.Size
		}
	}
	return r, errors.Join(errs...)
}

// spoolCleaner is a store whose Put spools to local files (spool), which a crash leaves.
type spoolCleaner interface {
	removeStaleSpools(before time.Time) (int, error)
}

// removeSpools removes the spool files in dir last written before before: a Put in flight
// writes its own continually.
func removeSpools(dir string, before time.Time) (int, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	names, err := filepath.Glob(filepath.Join(dir, spoolPattern))
	if err != nil {
		return 0, fmt.Errorf("blobs: sweep spools: %w", err)
	}
	n := 0
	for _, name := range names {
		if fi, err := os.Lstat(name); err == nil && fi.Mode().IsRegular() && fi.ModTime().Before(before) && os.Remove(name) == nil {
			n++
		}
	}
	return n, nil
}

// Sweeper runs Sweep every Interval until its context ends.
type Sweeper struct {
	Store    Store
	Interval time.Duration // default DefaultSweepInterval
	Grace    time.Duration // default DefaultGrace; at least MinGrace
	Logger   *slog.Logger  // nil: slog.Default()
}

// Check refuses a grace period shorter than MinGrace or a negative interval.
func (w Sweeper) Check() error {
	if w.Grace != 0 && w.Grace < MinGrace {
		return fmt.Errorf("blobs: sweeper grace period %v: must be at least %v", w.Grace, MinGrace)
	}
	if w.Interval < 0 {
		return fmt.Errorf("blobs: sweeper interval %v: must not be negative", w.Interval)
	}
	return nil
}

// Run sweeps at once, then every Interval, until ctx ends. A failed sweep is logged and
// tried again at the next tick.
func (w Sweeper) Run(ctx context.Context) error {
	if err := w.Check(); err != nil {
		return err
	}
	if w.Interval == 0 {
		w.Interval = DefaultSweepInterval
	}
	if w.Grace == 0 {
		w.Grace = DefaultGrace
	}
	log := w.Logger
	if log == nil {
		log = slog.Default()
	}
	t := time.NewTicker(w.Interval)
	defer t.Stop()
	for {
		r, err := Sweep(ctx, w.Store, w.Grace, time.Now())
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			log.Warn("blob sweep failed", "error", err, "removed", r.Removed)
		case r.Removed > 0:
			log.Info("blob sweep: unreferenced files removed", "removed", r.Removed, "bytes", r.RemovedBytes, "files", r.Files, "kept", r.Kept, "young", r.Young)
		default:
			log.Debug("blob sweep", "files", r.Files, "kept", r.Kept, "young", r.Young)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
