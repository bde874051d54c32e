// Package e2e holds the browser tests: Debian's Chromium, driven by Playwright (the npm
// package playwright-core, which downloads no browser), against `epcflow dev` built from this
// tree. `go test ./e2e/` runs them; they skip, saying what is missing, when Chromium, Node or
// playwright-core are not installed, unless CI is set: then they fail. `.ci/run` installs
// them (apt-get install chromium; npm ci here).
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/demo"
	"github.com/epcflow/epcflow/workflows"
)

var screenshots = flag.String("e2e.screenshots", "", "directory to write the console's screenshots to (e.g. ../docs); default: a temporary one")

// chromiumEnv names another Chromium than /usr/bin/chromium.
const chromiumEnv = "EPCFLOW_CHROMIUM"

// prerequisites returns the Chromium to drive, or what is missing.
func prerequisites(t *testing.T) string {
	t.Helper()
	chromium := os.Getenv(chromiumEnv)
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	var missing []string
	if _, err := os.Stat(chromium); err != nil {
		missing = append(missing, chromium+" (apt-get install -y chromium)")
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node (apt-get install -y nodejs npm)")
	}
	if _, err := os.Stat(filepath.Join("node_modules", "playwright-core", "package.json")); err != nil {
		missing = append(missing, "playwright-core (cd e2e && npm ci)")
	}
	if len(missing) > 0 {
		msg := "browser test needs " + strings.Join(missing, ", ")
		if os.Getenv("CI") != "" {
			t.Fatal(msg + " (CI is set: .ci/run installs them)")
		}
		t.Skip(msg)
	}
	return chromium
}

// TestConsoleInBrowser: an operator signs in to the console, finds an Appraisal by its loan
// number, schedules the inspection, delivers the report PDF, and the sandbox records the order
// completed (console.mjs says each step). Around it, orders at every stage the queue groups,
// for its screenshot.
func TestConsoleInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no browser test")
	}
	chromium := prerequisites(t)
	dir := t.TempDir()
	shots := *screenshots
	if shots == "" {
		shots = filepath.Join(dir, "screenshots")
	}
	require.NoError(t, os.MkdirAll(shots, 0o755))

	token := randomHex(16)
	dev := startDev(t, dir, token)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	loan := "E2E-" + strings.ToUpper(randomHex(3))
	placeQueue(ctx, t, dev, token, loan)

	pdf := filepath.Join(dir, "report.pdf")
	require.NoError(t, os.WriteFile(pdf, demo.SampleReport(loan, 512000), 0o600))
	cmd := exec.CommandContext(ctx, "node", "console.mjs")
	cmd.Env = append(os.Environ(), "E2E_API="+dev.api, "E2E_SANDBOX="+dev.sandbox, "E2E_TOKEN="+token,
		"E2E_LOAN="+loan, "E2E_PDF="+pdf, "E2E_SHOTS="+shots, "E2E_CHROMIUM="+chromium)
	out, err := cmd.CombinedOutput()
	t.Logf("console.mjs:\n%s", out)
	if err != nil {
		t.Logf("epcflow dev's log (last lines):\n%s", dev.logTail())
	}
	require.NoError(t, err, "the browser test failed (its output is above)")
	require.Contains(t, string(out), "e2e: PASS")
	for _, name := range []string{"console-queue.png", "console-order.png"} {
		fi, err := os.Stat(filepath.Join(shots, name))
		require.NoError(t, err)
		require.Greater(t, fi.Size(), int64(10000), "%s is too small to be a screenshot", name)
	}
}

// placeQueue places the order the browser works (loan) and, around it, one order for each of
// the queue's groups: one waiting to be scheduled, one waiting for its report (scheduled
// through the JSON API by another operator), one waiting for the lender's input, and a
// flood order that completes by itself.
func placeQueue(ctx context.Context, t *testing.T, dev *devStack, token, loan string) {
	t.Helper()
	lender, op := demo.NewLender(dev.sandbox), demo.NewOperator(dev.api, token)
	op.Actor = "Grace Hopper"
	place := func(req demo.OrderRequest) string {
		o, err := lender.PlaceOrder(ctx, req)
		require.NoError(t, err)
		return o.ID
	}
	noAddress := demo.SampleOrder(workflows.TypeAppraisal, "LN-2026-0163", "")
	noAddress.Loan = []byte(`{"loanNumber":"LN-2026-0163"}`)
	ids := map[string]string{
		"target":   place(demo.SampleOrder(workflows.TypeAppraisal, loan, "4430 Rosewood Dr")),
		"schedule": place(demo.SampleOrder(workflows.TypeAppraisal, "LN-2026-0142", "12 Hilltop Ct")),
		"report":   place(demo.SampleOrder(workflows.TypeAppraisal, "LN-2026-0157", "950 Bay St")),
		"input":    place(noAddress),
		"flood":    place(demo.SampleOrder(workflows.TypeFloodCertification, "LN-2026-0171", "77 Levee Rd")),
	}
	wait := func(id, stage string) {
		_, err := op.WaitStage(ctx, id, stage)
		require.NoError(t, err)
	}
	wait(ids["report"], workflows.StageAwaitSchedule)
	_, err := op.Schedule(ctx, ids["report"], time.Now().Add(50*time.Hour).Truncate(time.Hour), "Scott Cooper")
	require.NoError(t, err)
	wait(ids["report"], workflows.StageAwaitReport)
	wait(ids["target"], workflows.StageAwaitSchedule)
	wait(ids["schedule"], workflows.StageAwaitSchedule)
	wait(ids["input"], workflows.StageInputRequired)
	wait(ids["flood"], workflows.StageCompleted)
}

// devStack is a running `epcflow dev`.
type devStack struct {
	api, sandbox string
	mu           sync.Mutex
	log          bytes.Buffer
}

func (d *devStack) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.Write(p)
}

func (d *devStack) logTail() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.log.String()
	if len(s) > 8000 {
		s = s[len(s)-8000:]
	}
	return s
}

// startDev builds epcflow from this tree and runs `epcflow dev` on free ports, in memory,
// without the demo; it is stopped (SIGINT) when the test ends.
func startDev(t *testing.T, dir, token string) *devStack {
	t.Helper()
	bin := filepath.Join(dir, "epcflow")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	d := &devStack{}
	cmd := exec.Command(bin, "dev", "--db", ":memory:", "--data-dir", filepath.Join(dir, "data"), "--demo=false",
		"--temporal-port", "0", "--ui-port", "0", "--api-listen", "127.0.0.1:0", "--sandbox-listen", "127.0.0.1:0",
		"--operator-token", token)
	cmd.Stderr = d
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	// The banner names where each part listens.
	urls := make(chan [2]string, 1)
	go func() {
		var api, sandbox string
		sent := false
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			_, _ = io.WriteString(d, line+"\n")
			f := strings.Fields(line)
			switch {
			case strings.HasPrefix(line, "  epcflow API") && len(f) >= 3:
				api = f[2]
			case strings.HasPrefix(line, "  EPC sandbox") && len(f) >= 3:
				sandbox = f[2]
			}
			if api != "" && sandbox != "" && !sent {
				urls <- [2]string{api, sandbox}
				sent = true
			}
		}
	}()
	select {
	case u := <-urls:
		d.api, d.sandbox = u[0], u[1]
	case err := <-exited:
		t.Fatalf("epcflow dev exited: %v\n%s", err, d.logTail())
	case <-time.After(3 * time.Minute):
		t.Fatalf("epcflow dev did not print where it listens\n%s", d.logTail())
	}
	waitReady(t, d.api+"/readyz")
	return d
}

// waitReady polls url until it answers 200.
func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready: %v", url, err)
		}
		time.Sleep(wait)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
