// Package secretfile keeps a development secret in a file of its own, as `epcflow dev` does
// for its payload key and its portal secret: readable by its owner only (0600, in a 0700
// directory), created whole or not at all, never replaced. Production passes secrets through
// configuration instead.
package secretfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/epcflow/epcflow/internal/atomicfile"
)

// LoadOrCreate returns the file's content, first creating the file with content() when there
// is none (a start that loses a race to create it reads the winner's). A file others can read
// is refused, as ssh does with private keys. Errors start with what (e.g. "codec key file").
func LoadOrCreate(path, what string, content func() (string, error)) ([]byte, error) {
	b, err := read(path, what)
	if !errors.Is(err, fs.ErrNotExist) {
		return b, err
	}
	c, err := content()
	if err != nil {
		return nil, err
	}
	if err := create(path, what, c); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	return read(path, what)
}

func read(path, what string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if runtime.GOOS != "windows" {
		st, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		if perm := st.Mode().Perm(); perm&0o077 != 0 {
			return nil, fmt.Errorf("%s %s: permissions %#o let others read it: chmod 600 %s", what, path, perm, path)
		}
	}
	return b, nil
}

// create writes the whole file (atomicfile.Create): a crash never leaves half a file, and an
// existing file is never replaced (fs.ErrExist).
func create(path, what, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := atomicfile.Create(path, []byte(content)); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fs.ErrExist
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
