package blobs_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/blobs"
	"github.com/epcflow/epcflow/blobs/blobstest"
)

// stores runs a test against each implementation: a directory, and a bucket of a real S3
// protocol server in the test process. puts counts the uploads the store made (-1: untold).
func stores(t *testing.T, test func(t *testing.T, s blobs.Store, puts func() int)) {
	t.Run("dir", func(t *testing.T) {
		s, err := blobs.NewStore(t.TempDir())
		require.NoError(t, err)
		test(t, s, func() int { return -1 })
	})
	t.Run("s3", func(t *testing.T) {
		srv := blobstest.NewS3(t)
		s, err := blobs.NewS3(t.Context(), srv.Config)
		require.NoError(t, err)
		test(t, s, func() int { return srv.Requests(http.MethodPut) })
	})
}

func shaOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func read(t *testing.T, s blobs.Store, sha string) []byte {
	t.Helper()
	r, err := s.Open(t.Context(), sha)
	require.NoError(t, err)
	defer r.Close()
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	return b
}

func TestPutOpenRoundTrip(t *testing.T) {
	stores(t, func(t *testing.T, s blobs.Store, _ func() int) {
		ctx := t.Context()
		data := bytes.Repeat([]byte("%PDF-1.4 report "), 70_000) // ~1 MB, several reads
		sha, size, err := s.Put(ctx, bytes.NewReader(data), int64(len(data)))
		require.NoError(t, err)
		require.Equal(t, shaOf(data), sha, "named by its SHA-256")
		require.EqualValues(t, len(data), size)
		require.Equal(t, data, read(t, s, sha))
		got, err := s.Stat(ctx, sha)
		require.NoError(t, err)
		require.EqualValues(t, len(data), got)

		small := []byte("certificate")
		sha2, err := s.PutBytes(ctx, small)
		require.NoError(t, err)
		require.Equal(t, shaOf(small), sha2)
		require.Equal(t, small, read(t, s, sha2))
	})
}

func TestSameBytesTwiceIsANoOp(t *testing.T) {
	stores(t, func(t *testing.T, s blobs.Store, puts func() int) {
		ctx := t.Context()
		data := []byte("the same report")
		sha1, _, err := s.Put(ctx, bytes.NewReader(data), 0)
		require.NoError(t, err)
		before := puts()
		sha2, n, err := s.Put(ctx, bytes.NewReader(data), 0)
		require.NoError(t, err)
		sha3, err := s.PutBytes(ctx, data)
		require.NoError(t, err)
		require.Equal(t, sha1, sha2)
		require.Equal(t, sha1, sha3)
		require.EqualValues(t, len(data), n)
		require.Equal(t, before, puts(), "bytes the store holds are not sent again")
		require.Equal(t, data, read(t, s, sha1))
	})
}

func TestPutSizeLimit(t *testing.T) {
	stores(t, func(t *testing.T, s blobs.Store, puts func() int) {
		ctx := t.Context()
		before := puts()
		data := []byte("eleven byte")
		_, _, err := s.Put(ctx, bytes.NewReader(data), 10)
		require.ErrorIs(t, err, blobs.ErrTooLarge)
		require.Equal(t, before, puts(), "nothing uploaded")
		_, err = s.Stat(ctx, shaOf(data))
		require.ErrorIs(t, err, blobs.ErrNotFound, "nothing kept")

		sha, n, err := s.Put(ctx, bytes.NewReader(data), int64(len(data)))
		require.NoError(t, err, "exactly the limit is allowed")
		require.EqualValues(t, len(data), n)
		require.Equal(t, shaOf(data), sha)
	})
}

func TestMissingBlob(t *testing.T) {
	stores(t, func(t *testing.T, s blobs.Store, _ func() int) {
		ctx := t.Context()
		for _, sha := range []string{shaOf([]byte("never stored")), "../etc/passwd", "", strings.Repeat("A", 64), "notes"} {
			_, err := s.Open(ctx, sha)
			require.ErrorIs(t, err, blobs.ErrNotFound, "open %q", sha)
			_, err = s.Stat(ctx, sha)
			require.ErrorIs(t, err, blobs.ErrNotFound, "stat %q", sha)
		}
	})
}

func TestNotes(t *testing.T) {
	stores(t, func(t *testing.T, s blobs.Store, _ func() int) {
		ctx := t.Context()
		_, err := s.Note(ctx, "upload-1")
		require.ErrorIs(t, err, blobs.ErrNotFound)
		require.NoError(t, s.PutNote(ctx, "upload-1", []byte(`{"a":1}`)))
		require.NoError(t, s.PutNote(ctx, "upload-1", []byte(`{"a":2}`)))
		b, err := s.Note(ctx, "upload-1")
		require.NoError(t, err)
		require.Equal(t, `{"a":2}`, string(b), "a note is replaced")
		require.NoError(t, s.DeleteNote(ctx, "upload-1"))
		require.NoError(t, s.DeleteNote(ctx, "upload-1"), "deleting a missing note")
		_, err = s.Note(ctx, "upload-1")
		require.ErrorIs(t, err, blobs.ErrNotFound)

		// A note is not a file of the store, nor a file a note.
		require.NoError(t, s.PutNote(ctx, "upload-2", []byte("x")))
		_, err = s.Stat(ctx, "upload-2")
		require.ErrorIs(t, err, blobs.ErrNotFound)
		sha, err := s.PutBytes(ctx, []byte("x"))
		require.NoError(t, err)
		_, err = s.Note(ctx, sha)
		require.ErrorIs(t, err, blobs.ErrNotFound)

		for _, bad := range []string{"", "../x", "A", "a/b", ".hidden", string(make([]byte, 200)), strings.Repeat("a", 129)} {
			require.Error(t, s.PutNote(ctx, bad, nil), "key %q accepted", bad)
		}
	})
}

// TestDirNotesArePrivate: a directory store's notes may hold grants.
func TestDirNotesArePrivate(t *testing.T) {
	dir := t.TempDir()
	s, err := blobs.NewStore(dir)
	require.NoError(t, err)
	require.NoError(t, s.PutNote(t.Context(), "upload-1", []byte("grant")))
	fi, err := os.Stat(filepath.Join(dir, "notes", "upload-1"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}

// TestS3SharedByProcesses: two stores on one bucket, as two hosts have, see each other's
// files and notes; another prefix is another store.
func TestS3SharedByProcesses(t *testing.T) {
	ctx := t.Context()
	srv := blobstest.NewS3(t)
	a, err := blobs.NewS3(ctx, srv.Config)
	require.NoError(t, err)
	b, err := blobs.NewS3(ctx, srv.Config)
	require.NoError(t, err)
	sha, err := a.PutBytes(ctx, []byte("report"))
	require.NoError(t, err)
	require.Equal(t, []byte("report"), read(t, b, sha))
	require.NoError(t, a.PutNote(ctx, "upload-1", []byte("slot")))
	note, err := b.Note(ctx, "upload-1")
	require.NoError(t, err)
	require.Equal(t, "slot", string(note))

	other := srv.Config
	other.Prefix = "tenant-2"
	c, err := blobs.NewS3(ctx, other)
	require.NoError(t, err)
	_, err = c.Stat(ctx, sha)
	require.ErrorIs(t, err, blobs.ErrNotFound)
}

func TestNewS3RefusesABadConfiguration(t *testing.T) {
	srv := blobstest.NewS3(t)
	tests := []struct {
		name string
		edit func(*blobs.S3Config)
		want string
	}{
		{"no bucket", func(c *blobs.S3Config) { c.Bucket = "" }, "bucket is required"},
		{"key id without secret", func(c *blobs.S3Config) { c.SecretAccessKey = "" }, "give both or neither"},
		{"missing bucket", func(c *blobs.S3Config) { c.Bucket = "no-such-bucket" }, `bucket "no-such-bucket" at ` + srv.Config.Endpoint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := srv.Config
			tt.edit(&cfg)
			_, err := blobs.NewS3(t.Context(), cfg)
			require.ErrorContains(t, err, tt.want)
			require.NotContains(t, err.Error(), srv.Config.SecretAccessKey)
		})
	}
}

func TestOpenChoosesTheStore(t *testing.T) {
	srv := blobstest.NewS3(t)
	s, err := blobs.Open(t.Context(), blobs.Config{Dir: t.TempDir(), S3: srv.Config})
	require.NoError(t, err)
	require.IsType(t, &blobs.S3{}, s)
	s, err = blobs.Open(t.Context(), blobs.Config{Dir: t.TempDir()})
	require.NoError(t, err)
	require.IsType(t, &blobs.Dir{}, s)
	_, err = blobs.Open(t.Context(), blobs.Config{})
	require.Error(t, err)
	require.False(t, errors.Is(err, blobs.ErrNotFound))
}
