package testkit

import (
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestDocEdits(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal([]byte(`{"a":{"b":[1,{"c":"x"}]},"d":true}`), &doc); err != nil {
		t.Fatal(err)
	}
	Set(doc, "/a/b/0", "one")
	Set(doc, "/a/b/1/c", 2)
	Set(doc, "/e", []any{})
	Delete(doc, "/d")
	if got := string(Encode(t, doc)); got != `{"a":{"b":["one",{"c":2}]},"e":[]}` {
		t.Errorf("edited = %s", got)
	}
}

func TestFixtureFromTheRoot(t *testing.T) {
	if !strings.HasPrefix(string(Fixture(t, "go.mod")), "module ") {
		t.Error("go.mod is not the module's")
	}
	var v map[string]any
	FixtureJSON(t, "pos/testdata/inbank-session-minimal.json", &v)
	if len(v) == 0 {
		t.Error("empty fixture")
	}
}

func TestClock(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c := NewClock(start)
	c.Advance(time.Minute)
	if got := c.Now(); !got.Equal(start.Add(time.Minute)) {
		t.Errorf("Now = %v", got)
	}
}

func TestLogsConcurrentWritesAndWait(t *testing.T) {
	var l Logs
	log := l.JSON()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 100 {
				log.Debug("line", slog.Int("writer", i))
			}
		})
	}
	go log.Info("last")
	got := l.WaitLine(t, func(m map[string]any) bool { return m["msg"] == "last" })
	if got["level"] != "INFO" {
		t.Errorf("line %v", got)
	}
	wg.Wait()
	if n := len(l.Lines(t)); n != 801 {
		t.Fatalf("%d lines, want 801", n)
	}
}
