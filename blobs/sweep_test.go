package blobs_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/blobs"
	"github.com/epcflow/epcflow/blobs/blobstest"
)

const age = 48 * time.Hour // older than the grace period of these tests

// sweepStores runs a test against each store with putOld, which stores bytes as if written
// age ago.
func sweepStores(t *testing.T, test func(t *testing.T, s blobs.Store, putOld func([]byte) string)) {
	t.Run("dir", func(t *testing.T) {
		dir := t.TempDir()
		s, err := blobs.NewStore(dir)
		require.NoError(t, err)
		test(t, s, func(b []byte) string {
			sha, _, err := s.Put(t.Context(), bytes.NewReader(b), 0)
			require.NoError(t, err)
			old := time.Now().Add(-age)
			require.NoError(t, os.Chtimes(filepath.Join(dir, sha), old, old))
			return sha
		})
	})
	t.Run("s3", func(t *testing.T) {
		srv := blobstest.NewS3(t)
		s, err := blobs.NewS3(t.Context(), srv.Config)
		require.NoError(t, err)
		test(t, s, func(b []byte) string {
			srv.Backdate(age)
			defer srv.Backdate(0)
			sha, _, err := s.Put(t.Context(), bytes.NewReader(b), 0)
			require.NoError(t, err)
			return sha
		})
	})
}

func exists(t *testing.T, s blobs.Store, sha string) bool {
	t.Helper()
	_, err := s.Stat(t.Context(), sha)
	if err != nil {
		require.ErrorIs(t, err, blobs.ErrNotFound)
	}
	return err == nil
}

// TestSweepRemovesOnlyOldUnkeptFiles: of four files, only the one that is both older than
// the grace period and not kept goes; notes are not files.
func TestSweepRemovesOnlyOldUnkeptFiles(t *testing.T) {
	sweepStores(t, func(t *testing.T, s blobs.Store, putOld func([]byte) string) {
		ctx := t.Context()
		refused := putOld([]byte("%PDF- a report the workflow refused"))
		kept := putOld([]byte("%PDF- a report the workflow took"))
		require.NoError(t, s.Keep(ctx, kept))
		require.NoError(t, s.Keep(ctx, kept), "keeping twice")
		young, _, err := s.Put(ctx, bytes.NewReader([]byte("%PDF- a report being delivered now")), 0)
		require.NoError(t, err)
		require.NoError(t, s.PutNote(ctx, "upload-1", []byte("slot")))

		var listed []blobs.Info
		require.NoError(t, s.List(ctx, func(i blobs.Info) error { listed = append(listed, i); return nil }))
		require.Len(t, listed, 3, "files only, not notes or marks")
		for _, i := range listed {
			require.Equal(t, i.SHA256 == kept, i.Kept, "%s kept", i.SHA256)
			require.Equal(t, i.SHA256 == young, time.Since(i.Written) < time.Hour, "%s written %v", i.SHA256, i.Written)
		}

		r, err := blobs.Sweep(ctx, s, 24*time.Hour, time.Now())
		require.NoError(t, err)
		require.Equal(t, blobs.SweepResult{Files: 3, Kept: 1, Young: 1, Removed: 1, RemovedBytes: int64(len("%PDF- a report the workflow refused"))}, r)
		require.False(t, exists(t, s, refused), "the refused report is removed")
		require.True(t, exists(t, s, kept))
		require.True(t, exists(t, s, young))
		_, err = s.Note(ctx, "upload-1")
		require.NoError(t, err, "notes are not swept")

		r, err = blobs.Sweep(ctx, s, 24*time.Hour, time.Now())
		require.NoError(t, err)
		require.Zero(t, r.Removed, "a second sweep finds nothing more")
	})
}

// TestPutAgainMakesAnOldFileYoung: the same bytes delivered again are young, although they
// were first stored long ago.
func TestPutAgainMakesAnOldFileYoung(t *testing.T) {
	sweepStores(t, func(t *testing.T, s blobs.Store, putOld func([]byte) string) {
		ctx := t.Context()
		data := []byte("%PDF- delivered twice")
		sha := putOld(data)
		_, _, err := s.Put(ctx, bytes.NewReader(data), 0)
		require.NoError(t, err)
		r, err := blobs.Sweep(ctx, s, 24*time.Hour, time.Now())
		require.NoError(t, err)
		require.Zero(t, r.Removed)
		require.True(t, exists(t, s, sha))
	})
}

// TestRemoveChecksAtTheTimeOfTheCall: a file kept, or written again, after a sweep listed it
// is not removed.
func TestRemoveChecksAtTheTimeOfTheCall(t *testing.T) {
	sweepStores(t, func(t *testing.T, s blobs.Store, putOld func([]byte) string) {
		ctx := t.Context()
		before := time.Now().Add(-24 * time.Hour)
		a := putOld([]byte("a"))
		require.NoError(t, s.Keep(ctx, a))
		removed, err := s.Remove(ctx, a, before)
		require.NoError(t, err)
		require.False(t, removed, "kept")

		b := putOld([]byte("b"))
		_, _, err = s.Put(ctx, bytes.NewReader([]byte("b")), 0)
		require.NoError(t, err)
		removed, err = s.Remove(ctx, b, before)
		require.NoError(t, err)
		require.False(t, removed, "written again")

		c := putOld([]byte("c"))
		removed, err = s.Remove(ctx, c, before)
		require.NoError(t, err)
		require.True(t, removed)
		removed, err = s.Remove(ctx, c, before)
		require.NoError(t, err)
		require.False(t, removed, "already gone")
		removed, err = s.Remove(ctx, "../notes/upload-1", before)
		require.NoError(t, err)
		require.False(t, removed, "not a file name")
		require.Error(t, s.Keep(ctx, "../x"))
	})
}

// TestSweepRemovesSpoolsACrashLeft: a directory store's Put spools in its directory; the
// spool a crash left behind goes once old, one being written stays.
func TestSweepRemovesSpoolsACrashLeft(t *testing.T) {
	dir := t.TempDir()
	s, err := blobs.NewStore(dir)
	require.NoError(t, err)
	stale, fresh := filepath.Join(dir, ".put-123"), filepath.Join(dir, ".put-456")
	for _, f := range []string{stale, fresh} {
		require.NoError(t, os.WriteFile(f, []byte("part of a report"), 0o600))
	}
	old := time.Now().Add(-age)
	require.NoError(t, os.Chtimes(stale, old, old))
	_, err = blobs.Sweep(t.Context(), s, 24*time.Hour, time.Now())
	require.NoError(t, err)
	require.NoFileExists(t, stale)
	require.FileExists(t, fresh)
}

// TestSweeperRuns: a sweeper sweeps at once when started, and refuses a grace period under
// MinGrace.
func TestSweeperRuns(t *testing.T) {
	require.ErrorContains(t, blobs.Sweeper{Grace: time.Minute}.Check(), "must be at least")
	require.ErrorContains(t, blobs.Sweeper{Interval: -time.Second}.Check(), "must not be negative")
	require.NoError(t, blobs.Sweeper{}.Check())

	srv := blobstest.NewS3(t)
	s, err := blobs.NewS3(t.Context(), srv.Config)
	require.NoError(t, err)
	srv.Backdate(age)
	sha, err := s.PutBytes(t.Context(), []byte("left by a crash"))
	require.NoError(t, err)
	srv.Backdate(0)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- blobs.Sweeper{Store: s, Grace: blobs.MinGrace}.Run(ctx) }()
	deleted := func() int { return srv.Requests(http.MethodDelete) }
	deadline := time.Now().Add(10 * time.Second)
	for deleted() == 0 {
		require.True(t, time.Now().Before(deadline), "no sweep")
		time.Sleep(10 * time.Millisecond) // polling the fake server's request count
	}
	cancel()
	require.NoError(t, <-done)
	require.False(t, exists(t, s, sha))
}
