package blobs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestNotes(t *testing.T) {
	dir := t.TempDir()
	s, err := NewStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Note("upload-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing note: %v, want ErrNotFound", err)
	}
	if err := s.PutNote("upload-1", []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutNote("upload-1", []byte(`{"a":2}`)); err != nil {
		t.Fatal(err)
	}
	b, err := s.Note("upload-1")
	if err != nil || string(b) != `{"a":2}` {
		t.Fatalf("note = %q, %v", b, err)
	}
	fi, err := os.Stat(filepath.Join(dir, "notes", "upload-1"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("note file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	if err := s.DeleteNote("upload-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteNote("upload-1"); err != nil {
		t.Fatalf("deleting a missing note: %v", err)
	}
	if _, err := s.Note("upload-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted note: %v", err)
	}
	// A note is not a file of the store.
	if s.Has("upload-1") {
		t.Fatal("note seen as a blob")
	}
	for _, bad := range []string{"", "../x", "A", "a/b", ".hidden", string(make([]byte, 200))} {
		if err := s.PutNote(bad, nil); err == nil {
			t.Errorf("key %q accepted", bad)
		}
	}
}
