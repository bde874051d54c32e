//go:build !production

package cli

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/epcflow/epcflow/demo"
	"github.com/epcflow/epcflow/internal/testkit"
	"github.com/epcflow/epcflow/stack"
)

func TestLoopbackAddr(t *testing.T) {
	tests := map[string]bool{
		"127.0.0.1:8080": true, "[::1]:8080": true, "localhost:8080": true, "127.0.0.2:1": true,
		":8080": false, "0.0.0.0:8080": false, "10.0.0.5:8080": false, "[::]:8080": false, "nonsense": false,
	}
	for addr, want := range tests {
		if got := loopbackAddr(addr); got != want {
			t.Errorf("loopbackAddr(%q) = %v, want %v", addr, got, want)
		}
	}
}

// devRun is a running `epcflow dev` of a test, its output, and how to stop it.
type devRun struct {
	out  *testkit.Logs
	stop func() int // cancels and waits; the exit code
}

func startDev(t *testing.T, args ...string) *devRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut := &testkit.Logs{}, &testkit.Logs{}
	done := make(chan int, 1)
	go func() { done <- Main(ctx, append([]string{"dev"}, args...), out, errOut) }()
	r := &devRun{out: out}
	var once sync.Once
	code := -1
	r.stop = func() int {
		once.Do(func() {
			cancel()
			code = <-done
		})
		return code
	}
	t.Cleanup(func() { r.stop() })
	r.wait(t, "epcflow dev is running", func() string { return errOut.String() })
	return r
}

// wait waits for text in dev's output (a minute at most).
func (r *devRun) wait(t *testing.T, text string, more ...func() string) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if s := r.out.String(); strings.Contains(s, text) {
			return s
		}
		if time.Now().After(deadline) {
			extra := ""
			for _, f := range more {
				extra += f()
			}
			t.Fatalf("dev never printed %q; it printed:\n%s\n%s", text, r.out.String(), extra)
		}
		<-tick.C
	}
}

// printedCommand is the line of out that runs `start action`, as arguments for Main (the
// test binary stands for `go run .`).
func printedCommand(t *testing.T, out, action string) []string {
	t.Helper()
	for line := range strings.Lines(out) {
		if _, rest, ok := strings.Cut(line, "go run . start "+action+" "); ok {
			return append([]string{"start", action}, strings.Fields(rest)...)
		}
	}
	t.Fatalf("no `start %s` command printed in:\n%s", action, out)
	return nil
}

// TestDevOnOtherPortsWithTheDemo: `dev` on ports of its own records where its parts listen;
// the commands it prints work as printed and reach them; the demo's orders are placed once
// per data directory, --demo-orders places more with new loan numbers; a stopped dev leaves
// no record.
func TestDevOnOtherPortsWithTheDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Temporal")
	}
	for _, v := range []string{"EPCFLOW_DATA_DIR", "EPCFLOW_API_URL", "EPCFLOW_SANDBOX_URL", "EPCFLOW_OPERATOR_TOKEN", "EPCFLOW_TEMPORAL_DB"} {
		t.Setenv(v, "")
	}
	dir := filepath.Join(t.TempDir(), "data")
	args := []string{"--data-dir", dir, "--temporal-port", "0", "--ui-port", "-1", "--api-listen", "127.0.0.1:0", "--sandbox-listen", "127.0.0.1:0", "--log-level", "warn"}
	dev := startDev(t, args...)
	out := dev.wait(t, "start deliver")
	loc, err := stack.ReadLocation(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "epcflow API        "+loc.APIURL) || !strings.Contains(out, "EPC sandbox        "+loc.SandboxURL) {
		t.Errorf("banner and record disagree: %+v\n%s", loc, out)
	}
	for _, want := range []string{
		"Place an order:  go run . start order --type FloodCertification --data-dir " + dir,
		"demo: placed DEMO-FLOOD-001…003 and DEMO-APPR-001…003",
		"demo: DEMO-APPR-003 (Appraisal, transaction ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dev's output lacks %q:\n%s", want, out)
		}
	}
	// The waiting Appraisal, scheduled with the command as printed, once it waits for it.
	schedule := printedCommand(t, out, "schedule")
	id := schedule[slices.Index(schedule, "--id")+1]
	show := []string{"start", "show", "--id", id, "--data-dir", dir}
	waitCLI(t, show, `"stage": "awaiting-schedule"`)
	if code, stdout, stderr := runCLI(schedule...); code != 0 {
		t.Fatalf("%v: exit %d, stdout %q, stderr %q", schedule, code, stdout, stderr)
	}
	if code, stdout, stderr := runCLI(printedCommand(t, out, "order")...); code != 0 || !strings.Contains(stdout, "placed FloodCertification order") {
		t.Fatalf("printed order command: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if code := dev.stop(); code != 0 {
		t.Fatalf("dev exit %d", code)
	}
	if _, err := stack.ReadLocation(dir); !errors.Is(err, stack.ErrNoStack) {
		t.Fatalf("a stopped dev left its record: %v", err)
	}

	// Again: nothing placed, and the Appraisal still waiting named with what it waits for.
	dev = startDev(t, args...)
	out = dev.wait(t, "not placed again")
	waitCLI(t, show, `"stage": "awaiting-report"`)
	out = dev.wait(t, "demo: DEMO-APPR-003")
	if strings.Contains(out, "start schedule") || !strings.Contains(out, "start deliver --id "+id) {
		t.Errorf("restart names the waiting order wrongly:\n%s", out)
	}
	loc, err = stack.ReadLocation(dir)
	if err != nil {
		t.Fatal(err)
	}
	if txs, err := demo.NewLender(loc.SandboxURL).Transactions(context.Background()); err != nil || len(txs) != 7 {
		t.Errorf("sandbox holds %d orders (%v), want the demo's 6 and the one placed", len(txs), err)
	}
	dev.stop()

	// More on demand, numbered after the first batch.
	dev = startDev(t, append(args, "--demo-orders", "1")...)
	dev.wait(t, "demo: placed DEMO-FLOOD-004 and DEMO-APPR-004")
}

// waitCLI runs args until stdout holds want (a minute at most).
func waitCLI(t *testing.T, args []string, want string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		code, stdout, stderr := runCLI(args...)
		if code == 0 && strings.Contains(stdout, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v never answered %q: exit %d, stdout %q, stderr %q", args, want, code, stdout, stderr)
		}
		time.Sleep(100 * time.Millisecond) // polling the order's state, with a deadline
	}
}
