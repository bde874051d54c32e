package testkit

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Logs collects what loggers write, from any goroutine at once, so that a test can search
// what was logged or wait for a line. The zero value is ready to use.
type Logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
	// wrote is closed (and dropped) at the next write; waiters take it before they look.
	wrote chan struct{}
}

// Write appends p.
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.wrote != nil {
		close(l.wrote)
		l.wrote = nil
	}
	return l.buf.Write(p)
}

// String is everything written so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Text is a logger of every level writing text lines to l.
func (l *Logs) Text() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// JSON is a logger of every level writing JSON lines to l.
func (l *Logs) JSON() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Lines decodes what was written as JSON lines (from a JSON logger).
func (l *Logs) Lines(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(l.String()) {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		out = append(out, m)
	}
	return out
}

// WaitLine waits (5 s at most) for a JSON line matching match, and returns it.
func (l *Logs) WaitLine(t testing.TB, match func(map[string]any) bool) map[string]any {
	t.Helper()
	var got map[string]any
	l.wait(t, 5*time.Second, "matching log line", func() bool {
		for _, m := range l.Lines(t) {
			if match(m) {
				got = m
				return true
			}
		}
		return false
	})
	return got
}

// Wait waits (30 s at most) for re to match what was written, text or not, and returns the
// match and its groups.
func (l *Logs) Wait(t testing.TB, re *regexp.Regexp) []string {
	t.Helper()
	var got []string
	l.wait(t, 30*time.Second, "match of "+re.String(), func() bool {
		got = re.FindStringSubmatch(l.String())
		return got != nil
	})
	return got
}

// wait checks found after every write until it holds; the test fails after limit.
func (l *Logs) wait(t testing.TB, limit time.Duration, what string, found func() bool) {
	t.Helper()
	deadline := time.After(limit)
	for {
		wrote := l.nextWrite()
		if found() {
			return
		}
		select {
		case <-wrote:
		case <-deadline:
			t.Fatalf("no %s; log:\n%s", what, l.String())
		}
	}
}

// nextWrite is closed at the next write.
func (l *Logs) nextWrite() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.wrote == nil {
		l.wrote = make(chan struct{})
	}
	return l.wrote
}

// Logger writes at level and above to Output(t).
func Logger(t testing.TB, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(Output(t), &slog.HandlerOptions{Level: level}))
}

// Output is the test's output until the test ends, and nothing after: servers' goroutines may
// log a moment after they stopped, and must not log into a finished test.
func Output(t testing.TB) io.Writer {
	w := &cutoff{w: t.Output()}
	t.Cleanup(w.cut)
	return w
}

type cutoff struct {
	mu  sync.Mutex
	w   io.Writer
	off bool
}

func (c *cutoff) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.off {
		return len(p), nil
	}
	return c.w.Write(p)
}

func (c *cutoff) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off = true
}
