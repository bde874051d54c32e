package cli

import (
	"path/filepath"
	"strings"
)

// invocation is how this binary was started, as the first words of a command a person can
// run again: `go run .` when `go run` built it (its binary then lives in a go-build temporary
// directory or in Go's build cache), else the path it was started as, quoted for a shell.
func invocation(argv0 string, getenv func(string) string) string {
	if argv0 == "" {
		return "epcflow"
	}
	if builtByGoRun(argv0, getenv("GOCACHE")) {
		return "go run ."
	}
	return shellQuote(argv0)
}

// builtByGoRun: `go run` links the binary under $TMPDIR/go-buildNNN/…/exe/, or (Go 1.24 and
// later) caches it in the build cache: $GOCACHE, by default …/go-build/.
func builtByGoRun(argv0, gocache string) bool {
	if !strings.ContainsRune(argv0, filepath.Separator) {
		return false // found on $PATH
	}
	if gocache != "" && strings.HasPrefix(filepath.Clean(argv0), filepath.Clean(gocache)+string(filepath.Separator)) {
		return true
	}
	for d := filepath.Dir(filepath.Clean(argv0)); d != filepath.Dir(d); d = filepath.Dir(d) {
		b := filepath.Base(d)
		if b == "go-build" || (strings.HasPrefix(b, "go-build") && strings.Trim(b[len("go-build"):], "0123456789") == "") {
			return true
		}
	}
	return false
}

// shellQuote quotes s for a POSIX shell when it holds anything but plainly safe characters.
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	if strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@%+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// command is a command line for this binary that works as printed: its invocation, the
// arguments quoted, and --data-dir when the data directory is not the default.
func (e *env) command(dataDir string, args ...string) string {
	parts := []string{e.self}
	for _, a := range args {
		parts = append(parts, shellQuote(a))
	}
	if dataDir != "" && dataDir != defaultDataDir {
		parts = append(parts, "--data-dir", shellQuote(dataDir))
	}
	return strings.Join(parts, " ")
}
