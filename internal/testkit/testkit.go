// Package testkit holds what the tests of several packages share: the repository's fixtures
// read from the one place each is checked in, log buffers and test loggers, a settable clock,
// and JSON documents edited by pointer. Tests only.
package testkit

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

var root = sync.OnceValues(func() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", os.ErrNotExist
		}
		dir = up
	}
})

// Path is the file at path (slash-separated, from the repository's root), for the tests of
// any package: a fixture is checked in once and read from there.
func Path(t testing.TB, path string) string {
	t.Helper()
	if !filepath.IsLocal(filepath.FromSlash(path)) {
		t.Fatalf("testkit: %q: name a file from the repository's root", path)
	}
	dir, err := root()
	if err != nil {
		t.Fatalf("testkit: the module's root (go.mod above the working directory): %v", err)
	}
	return filepath.Join(dir, filepath.FromSlash(path))
}

// Fixture reads the file at path (from the repository's root, as Path).
func Fixture(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(Path(t, path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FixtureJSON decodes the JSON file at path (as Fixture) into v.
func FixtureJSON(t testing.TB, path string, v any) {
	t.Helper()
	if err := json.Unmarshal(Fixture(t, path), v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
