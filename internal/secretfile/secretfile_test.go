package secretfile

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestLoadOrCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "secret")
	n := 0
	content := func() (string, error) { n++; return "s" + string(rune('0'+n)), nil }
	// Concurrent first starts: one file, every caller reads the same content.
	var wg sync.WaitGroup
	got := make([]string, 4)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := LoadOrCreate(path, "test secret", func() (string, error) { return "x" + string(rune('a'+i)), nil })
			if err != nil {
				t.Error(err)
			}
			got[i] = string(b)
		}()
	}
	wg.Wait()
	for _, g := range got {
		if g != got[0] {
			t.Fatalf("callers read different secrets: %q", got)
		}
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", st.Mode(), err)
	}
	if dir, _ := os.Stat(filepath.Dir(path)); dir.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode %v", dir.Mode())
	}
	b, err := LoadOrCreate(path, "test secret", content)
	if err != nil || string(b) != got[0] || n != 0 {
		t.Fatalf("existing file: %q %v (content called %d times)", b, err, n)
	}

	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreate(path, "test secret", content); err == nil || err.Error() != "test secret "+path+": permissions 0640 let others read it: chmod 600 "+path {
		t.Fatalf("a file others can read: %v", err)
	}
	boom := errors.New("boom")
	if _, err := LoadOrCreate(filepath.Join(t.TempDir(), "new"), "test secret", func() (string, error) { return "", boom }); !errors.Is(err, boom) {
		t.Fatalf("content error: %v", err)
	}
}
