//go:build !production

package stack

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/epcflow/epcflow/devserver"
	"github.com/epcflow/epcflow/portal"
)

// TestLocationRecordedWhileRunning: a stack started with RecordLocation says in its data
// directory where its parts listen (0600, no secret) until it stops.
func TestLocationRecordedWhileRunning(t *testing.T) {
	dir := t.TempDir()
	const token = "operator-token-never-written"
	secret := portal.RandomSecret()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := Start(ctx, Config{
		DataDir: dir, DBPath: devserver.MemoryDB, UIPort: devserver.NoUI, NoWorker: true, RecordLocation: true,
		PortalDSN: filepath.Join(dir, "portal.db"), OperatorToken: token, PortalSecret: secret,
	})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			st.Close()
		}
	}()

	path := filepath.Join(dir, LocationFile)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("%s is %v, want 0600", path, info.Mode().Perm())
	}
	loc, err := ReadLocation(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := Location{
		APIURL: st.APIURL, ConsoleURL: st.APIURL + "/console/", SandboxURL: st.SandboxURL,
		TemporalAddress: st.Server.FrontendAddress(), Namespace: "default", PortalDB: filepath.Join(dir, "portal.db"),
		OperatorToken: true, PID: os.Getpid(), DataDir: dir,
	}
	got := loc
	got.ID, got.StartedAt = "", time.Time{}
	if got != want {
		t.Errorf("location\n got %+v\nwant %+v", got, want)
	}
	if loc.ID == "" || loc.StartedAt.IsZero() {
		t.Errorf("location without id or start time: %+v", loc)
	}
	raw, _ := os.ReadFile(path)
	if strings.Contains(string(raw), token) {
		t.Error("the location record holds the operator token")
	}

	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	if _, err := ReadLocation(dir); !errors.Is(err, ErrNoStack) {
		t.Fatalf("after Close: ReadLocation = %v, want ErrNoStack", err)
	}
}

// TestLocationOfAnotherStartIsKept: a stack that stops removes its own record only, not one a
// later start on the same data directory wrote.
func TestLocationOfAnotherStartIsKept(t *testing.T) {
	dir := t.TempDir()
	first := Location{ID: "first", APIURL: "http://127.0.0.1:1", SandboxURL: "http://127.0.0.1:2"}
	second := Location{ID: "second", APIURL: "http://127.0.0.1:3", SandboxURL: "http://127.0.0.1:4"}
	if err := writeLocation(dir, first); err != nil {
		t.Fatal(err)
	}
	if err := writeLocation(dir, second); err != nil {
		t.Fatal(err)
	}
	if err := removeLocation(dir, "first"); err != nil {
		t.Fatal(err)
	}
	if loc, err := ReadLocation(dir); err != nil || loc.ID != "second" {
		t.Fatalf("ReadLocation = %+v, %v; want the second start's", loc, err)
	}
	if err := removeLocation(dir, "second"); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadLocation(dir); !errors.Is(err, ErrNoStack) {
		t.Fatalf("ReadLocation = %v, want ErrNoStack", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("left in the data directory: %v", entries)
	}
}
