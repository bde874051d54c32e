package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/epcflow/epcflow/portal"
	"github.com/epcflow/epcflow/stack"
)

// fakeStack stands for a running `epcflow dev`: an API and a sandbox answering what `start`
// asks, and its record in a data directory.
type fakeStack struct {
	dir          string
	api, sandbox *httptest.Server
	loc          stack.Location
	calls        []string // "api GET /v1/transactions/tx-1", "sandbox POST /sandbox/epc/transactions"
}

func newFakeStack(t *testing.T) *fakeStack {
	t.Helper()
	for _, v := range []string{"EPCFLOW_DATA_DIR", "EPCFLOW_API_URL", "EPCFLOW_SANDBOX_URL", "EPCFLOW_OPERATOR_TOKEN", "EPCFLOW_PORTAL_DSN"} {
		t.Setenv(v, "")
	}
	s := &fakeStack{dir: filepath.Join(t.TempDir(), "data dir")}
	s.api = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls = append(s.calls, "api "+r.Method+" "+r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/healthz" {
			w.Write([]byte(`{"status":"ok"}`))
			return
		}
		w.Write([]byte(`{"transactionId":"tx-1","stage":"awaiting-schedule"}`))
	}))
	t.Cleanup(s.api.Close)
	s.sandbox = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls = append(s.calls, "sandbox "+r.Method+" "+r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"id":"tx-new","status":"pending"}`))
	}))
	t.Cleanup(s.sandbox.Close)
	s.loc = stack.Location{
		ID: "fake", PID: 4242, StartedAt: time.Now().UTC(), DataDir: s.dir, APIURL: s.api.URL, ConsoleURL: s.api.URL + "/console/",
		SandboxURL: s.sandbox.URL, TemporalAddress: "127.0.0.1:1", Namespace: "default", PortalDB: filepath.Join(s.dir, "portal.db"),
	}
	s.record(t)
	return s
}

// record writes the stack's record as `dev` does.
func (s *fakeStack) record(t *testing.T) {
	t.Helper()
	b, err := json.Marshal(s.loc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, stack.LocationFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = Main(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestStartFindsTheRunningStack: `start` sends each action where the stack recorded in the
// data directory listens, on whatever ports it runs, and prints follow-ups that work as
// printed (with the data directory, quoted).
func TestStartFindsTheRunningStack(t *testing.T) {
	s := newFakeStack(t)
	code, out, errOut := runCLI("start", "show", "--id", "tx-1", "--data-dir", s.dir)
	if code != 0 || !strings.Contains(out, `"stage": "awaiting-schedule"`) {
		t.Fatalf("show: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = runCLI("start", "order", "--type", "Appraisal", "--data-dir", s.dir)
	if code != 0 || !strings.Contains(out, "placed Appraisal order tx-new") {
		t.Fatalf("order: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if want := "start show --id tx-new --data-dir '" + s.dir + "'"; !strings.Contains(out, want) {
		t.Errorf("order's follow-up %q lacks %q", out, want)
	}
	// A second order in the same second gets a loan number of its own.
	_, again, _ := runCLI("start", "order", "--type", "Appraisal", "--data-dir", s.dir)
	if loan := loanOf(t, out); loan == loanOf(t, again) {
		t.Errorf("two orders with loan number %s", loan)
	}
	want := []string{"api GET /v1/transactions/tx-1", "sandbox POST /sandbox/epc/transactions", "sandbox POST /sandbox/epc/transactions"}
	if strings.Join(s.calls, ",") != strings.Join(want, ",") {
		t.Errorf("calls %v, want %v", s.calls, want)
	}

	// The data directory may come from the environment too.
	t.Setenv("EPCFLOW_DATA_DIR", s.dir)
	if code, out, errOut := runCLI("start", "show", "--id", "tx-1"); code != 0 {
		t.Fatalf("show with EPCFLOW_DATA_DIR: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// loanOf is the loan number `start order` printed.
func loanOf(t *testing.T, out string) string {
	t.Helper()
	_, rest, ok := strings.Cut(out, "(loan ")
	loan, _, ok2 := strings.Cut(rest, ")")
	if !ok || !ok2 || loan == "" {
		t.Fatalf("no loan number in %q", out)
	}
	return loan
}

// TestStartFlagsWin: --api and --sandbox name the parts instead of the record, even a stale one.
func TestStartFlagsWin(t *testing.T) {
	s := newFakeStack(t)
	s.loc.APIURL, s.loc.SandboxURL = "http://127.0.0.1:1", "http://127.0.0.1:1"
	s.record(t)
	if code, out, errOut := runCLI("start", "show", "--id", "tx-1", "--data-dir", s.dir, "--api", s.api.URL); code != 0 {
		t.Fatalf("show --api: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, out, errOut := runCLI("start", "cancel", "--id", "tx-1", "--data-dir", s.dir, "--sandbox", s.sandbox.URL); code != 0 {
		t.Fatalf("cancel --sandbox: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// Without a record at all.
	if code, out, errOut := runCLI("start", "show", "--id", "tx-1", "--data-dir", t.TempDir(), "--api", s.api.URL); code != 0 {
		t.Fatalf("show --api, no record: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestStartWithoutARunningStack: no record, a record of a stack that no longer answers, or a
// stack that wants the operator token: each refused with what to do.
func TestStartWithoutARunningStack(t *testing.T) {
	s := newFakeStack(t)
	empty := t.TempDir()
	code, _, errOut := runCLI("start", "show", "--id", "tx-1", "--data-dir", empty)
	for _, want := range []string{"no running stack found", filepath.Join(empty, stack.LocationFile) + " does not exist", "dev --data-dir", "--api"} {
		if code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("no record: exit %d, stderr %q; want 1 and %q", code, errOut, want)
		}
	}

	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	s.loc.SandboxURL = dead.URL
	s.record(t)
	code, _, errOut = runCLI("start", "order", "--data-dir", s.dir)
	for _, want := range []string{"is not answering", "process 4242", "stopped without removing its record"} {
		if code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("stale record: exit %d, stderr %q; want 1 and %q", code, errOut, want)
		}
	}

	s.loc.OperatorToken = true
	s.record(t)
	code, _, errOut = runCLI("start", "schedule", "--id", "tx-1", "--data-dir", s.dir)
	if want := "wants the operator token: set EPCFLOW_OPERATOR_TOKEN"; code != 2 || !strings.Contains(errOut, want) {
		t.Errorf("token: exit %d, stderr %q; want 2 and %q", code, errOut, want)
	}
	if len(s.calls) != 0 {
		t.Errorf("calls made: %v", s.calls)
	}
}

// TestPortalTokenFollowsTheStack: the sign-in link is issued in the running stack's portal
// database and points at its API, wherever the command runs from; the stack then knows it.
func TestPortalTokenFollowsTheStack(t *testing.T) {
	s := newFakeStack(t)
	t.Chdir(t.TempDir()) // not where the stack runs
	code, out, errOut := runCLI("start", "portal-token", "--email", "Ann@Example.com", "--data-dir", s.dir)
	if code != 0 || !strings.Contains(out, "sign in: "+s.api.URL+"/portal/signin?token=pt_") {
		t.Fatalf("portal-token: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(defaultDataDir, "portal.db")); err == nil {
		t.Error("portal-token created a portal database in the working directory")
	}
	link, err := url.Parse(strings.Fields(strings.TrimPrefix(out, "sign in: "))[0])
	if err != nil {
		t.Fatal(err)
	}
	store, err := portal.Open(context.Background(), s.loc.PortalDB)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	u, err := store.SignIn(context.Background(), portal.RandomSecret(), link.Query().Get("token"))
	if err != nil || u.Email != "ann@example.com" {
		t.Fatalf("the stack's portal database does not know the link: %v, %v", u, err)
	}
	if code, out, errOut := runCLI("start", "portal-revoke", "--email", "ann@example.com", "--data-dir", s.dir); code != 0 || !strings.Contains(out, "1 sign-in links revoked") {
		t.Fatalf("portal-revoke: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// A stack whose portal lives in memory cannot be reached; a stopped one's file can.
	s.loc.PortalDB, s.loc.PortalInMemory = "", true
	s.record(t)
	if code, _, errOut := runCLI("start", "portal-revoke", "--email", "ann@example.com", "--data-dir", s.dir); code != 1 || !strings.Contains(errOut, "keeps its portal users in memory") {
		t.Errorf("in-memory portal: exit %d, stderr %q", code, errOut)
	}
	os.Remove(filepath.Join(s.dir, stack.LocationFile))
	if code, out, errOut := runCLI("start", "portal-revoke", "--email", "ann@example.com", "--data-dir", s.dir); code != 0 {
		t.Errorf("stopped stack: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
