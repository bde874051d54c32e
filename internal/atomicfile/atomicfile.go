// Package atomicfile writes a file whole or not at all: the data goes to a temporary file in
// the same directory (mode 0600: these files hold keys and secrets), is synced, and only then
// takes the file's name, so a crash never leaves a half-written file behind.
package atomicfile

import (
	"encoding/json"
	"os"
	"path/filepath"
)

// Replace writes data to path, replacing what was there.
func Replace(path string, data []byte) error {
	return write(path, data, os.Rename)
}

// ReplaceJSON writes v to path as indented JSON ending in a newline, replacing what was there;
// path's directory is created (0700) if need be.
func ReplaceJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return Replace(path, append(b, '\n'))
}

// Create writes data to path, which must not exist: an existing path is an error that
// errors.Is(err, fs.ErrExist) matches, and the existing file is left as it was.
func Create(path string, data []byte) error {
	return write(path, data, os.Link)
}

// SyncDir makes the names just given in dir durable; best effort (not every platform can
// sync a directory).
func SyncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

func write(path string, data []byte, place func(tmp, path string) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after a rename, nothing; after a link, the temporary name
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return place(f.Name(), path)
}
