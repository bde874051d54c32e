package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/epcflow/epcflow/stack"
)

// defaultDataDir is where `dev` keeps its state and `start` looks for it.
const defaultDataDir = ".epcflow"

// dataDirFlag registers --data-dir (env EPCFLOW_DATA_DIR).
func dataDirFlag(f *flags, p *string, usage string) {
	f.str(p, "data-dir", "EPCFLOW_DATA_DIR", defaultDataDir, usage)
}

// stackTarget is where `start` sends an action: the URLs given by flags or the environment,
// the others read from the running stack's record in the data directory (stack.json).
type stackTarget struct {
	dataDir            string
	apiURL, sandboxURL string
	apiSet, sbSet      bool            // given by a flag or the environment
	loc                *stack.Location // the running stack's record, when one was read
	devCommand         string          // for the messages: how to start the stack
}

// need reads the stack's record unless every URL the action needs was given. It fails, saying
// what to do, when no stack recorded its location.
func (t *stackTarget) need(api, sandbox bool) error {
	if (!api || t.apiSet) && (!sandbox || t.sbSet) {
		return nil
	}
	loc, err := stack.ReadLocation(t.dataDir)
	if errors.Is(err, stack.ErrNoStack) {
		var flags []string
		if api && !t.apiSet {
			flags = append(flags, "--api")
		}
		if sandbox && !t.sbSet {
			flags = append(flags, "--sandbox")
		}
		return fmt.Errorf("no running stack found: %s does not exist (`dev` records there where its parts listen, while it runs).\n"+
			"Start one with `%s`, name the data directory it runs with by --data-dir (EPCFLOW_DATA_DIR), or give %s",
			filepath.Join(t.dataDir, stack.LocationFile), t.devCommand, strings.Join(flags, " and "))
	}
	if err != nil {
		return fmt.Errorf("the running stack's record: %w", err)
	}
	t.loc = &loc
	if !t.apiSet {
		t.apiURL = loc.APIURL
	}
	if !t.sbSet {
		t.sandboxURL = loc.SandboxURL
	}
	return nil
}

// operatorToken checks that a token is given when the recorded stack wants one.
func (t *stackTarget) operatorToken(token string) error {
	if token == "" && t.loc != nil && !t.apiSet && t.loc.OperatorToken {
		return usageErr("the stack at %s wants the operator token: set EPCFLOW_OPERATOR_TOKEN (or --operator-token) to the one it was started with", t.apiURL)
	}
	return nil
}

// explain rewrites the error of a request that reached nobody (viaAPI: sent to the API, else
// to the sandbox): a recorded stack that does not answer was stopped without removing its
// record (killed), or is not up yet.
func (t *stackTarget) explain(err error, viaAPI bool) error {
	var op *net.OpError
	if err == nil || !errors.As(err, &op) || op.Op != "dial" {
		return err
	}
	fromRecord := t.loc != nil && ((viaAPI && !t.apiSet) || (!viaAPI && !t.sbSet))
	if !fromRecord {
		return fmt.Errorf("nothing answers there (is the stack running?): %w", err)
	}
	return fmt.Errorf("the stack recorded in %s (process %d, started %s) is not answering: %w\n"+
		"It was stopped without removing its record (killed?): start it again with `%s`, or give --api / --sandbox",
		filepath.Join(t.dataDir, stack.LocationFile), t.loc.PID, t.loc.StartedAt.Local().Format("2006-01-02 15:04:05 MST"), err, t.devCommand)
}

// answering checks that the API answers, for actions that do not call it themselves.
func (t *stackTarget) answering(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(t.apiURL, "/")+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return t.explain(err, true)
	}
	resp.Body.Close()
	return nil
}

// portalDB is the portal users' database of the stack: the one given, else the one the
// running stack recorded, else the data directory's file of a stopped `dev`.
func (t *stackTarget) portalDB(given string, set bool) (string, error) {
	if set {
		return given, nil
	}
	loc, err := stack.ReadLocation(t.dataDir)
	switch {
	case err == nil && loc.PortalInMemory:
		return "", fmt.Errorf("the stack running from %s keeps its portal users in memory (--db :memory:), out of this command's reach: start `dev` with a database file", t.dataDir)
	case err == nil && loc.PortalDB == "":
		return "", usageErr("the stack running from %s keeps its portal users in PostgreSQL: give --portal-db (EPCFLOW_PORTAL_DSN)", t.dataDir)
	case err == nil:
		t.loc = &loc
		return loc.PortalDB, nil
	case !errors.Is(err, stack.ErrNoStack):
		return "", fmt.Errorf("the running stack's record: %w", err)
	}
	path := filepath.Join(t.dataDir, "portal.db")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("no portal database: no stack runs from %s and %s does not exist; start `%s`, or give --portal-db (EPCFLOW_PORTAL_DSN)", t.dataDir, path, t.devCommand)
	}
	return path, nil
}
