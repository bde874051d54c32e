package stack

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/epcflow/epcflow/devserver"
	"github.com/epcflow/epcflow/internal/atomicfile"
)

// LocationFile is the file in a stack's data directory that says where its parts listen,
// while it runs (Config.RecordLocation): `epcflow start` reads it to find the stack.
const LocationFile = "stack.json"

// ErrNoStack is returned by ReadLocation when no stack recorded its location.
var ErrNoStack = errors.New("no running stack recorded")

// Location is where a running stack's parts listen. It holds no secret: whoever may read the
// data directory learns addresses, and whether the operator endpoints want a token.
type Location struct {
	// ID tells this start's record from another's (see recordLocation).
	ID        string    `json:"id"`
	PID       int       `json:"pid"`
	StartedAt time.Time `json:"startedAt"`
	DataDir   string    `json:"dataDir"`
	APIURL    string    `json:"apiUrl"`
	// ConsoleURL is the operator console; SandboxURL the EPC sandbox (lender and platform).
	ConsoleURL string `json:"consoleUrl"`
	SandboxURL string `json:"sandboxUrl"`
	// TemporalAddress (host:port) and Namespace of the Temporal frontend; TemporalUIURL its
	// Web UI (empty: none).
	TemporalAddress string `json:"temporalAddress"`
	Namespace       string `json:"namespace"`
	TemporalUIURL   string `json:"temporalUiUrl,omitempty"`
	// PortalDB is the portal users' SQLite file, absolute; empty when they are kept elsewhere:
	// in memory (PortalInMemory) or in PostgreSQL (whose DSN may hold a password).
	PortalDB       string `json:"portalDb,omitempty"`
	PortalInMemory bool   `json:"portalInMemory,omitempty"`
	// OperatorToken says the operator endpoints want the operator token (never the token).
	OperatorToken bool `json:"operatorTokenRequired"`
}

// ReadLocation reads the location a running stack recorded in dataDir; ErrNoStack when none
// did (none runs, or it stopped). A stack that was killed leaves its record behind: the
// caller finds it not answering.
func ReadLocation(dataDir string) (Location, error) {
	path := filepath.Join(dataDir, LocationFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Location{}, fmt.Errorf("%w: %s does not exist", ErrNoStack, path)
	}
	if err != nil {
		return Location{}, err
	}
	var loc Location
	if err := json.Unmarshal(b, &loc); err != nil {
		return Location{}, fmt.Errorf("%s: %w", path, err)
	}
	if loc.APIURL == "" || loc.SandboxURL == "" {
		return Location{}, fmt.Errorf("%s: no apiUrl or sandboxUrl", path)
	}
	return loc, nil
}

// recordLocation writes the stack's location into its data directory (0600, replaced
// atomically) and returns what removes it, unless another start has since replaced it.
func recordLocation(cfg Config, st *Stack, portalDSN string) (func() error, error) {
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	loc := Location{
		ID: randomID(), PID: os.Getpid(), StartedAt: time.Now().UTC().Truncate(time.Second), DataDir: dir,
		APIURL: st.APIURL, ConsoleURL: st.APIURL + "/console/", SandboxURL: st.SandboxURL,
		TemporalAddress: st.Server.FrontendAddress(), Namespace: st.Server.Namespace(), TemporalUIURL: st.Server.UIURL(),
		OperatorToken: cfg.OperatorToken != "",
	}
	switch {
	case portalDSN == devserver.MemoryDB:
		loc.PortalInMemory = true
	case !strings.Contains(portalDSN, "://"):
		if loc.PortalDB, err = filepath.Abs(portalDSN); err != nil {
			return nil, err
		}
	}
	if err := writeLocation(dir, loc); err != nil {
		return nil, err
	}
	return func() error { return removeLocation(dir, loc.ID) }, nil
}

func writeLocation(dir string, loc Location) error {
	if err := atomicfile.ReplaceJSON(filepath.Join(dir, LocationFile), loc); err != nil {
		return fmt.Errorf("record the stack's location: %w", err)
	}
	return nil
}

// removeLocation removes the record with id: a second stack started on the same data
// directory (whatever became of it) must not lose the first's record when it stops.
func removeLocation(dir, id string) error {
	loc, err := ReadLocation(dir)
	if errors.Is(err, ErrNoStack) {
		return nil
	}
	if err != nil || loc.ID != id {
		return nil // not ours (or unreadable: not ours to judge)
	}
	if err := os.Remove(filepath.Join(dir, LocationFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove the stack's location record: %w", err)
	}
	return nil
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics rather than return an error)
	return hex.EncodeToString(b[:])
}
