package chaos_test

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/chaos"
	"github.com/epcflow/epcflow/cli"
)

// The CI size keeps `go test ./...` short; the full run is one flag away:
// go test ./chaos/ -run TestChaos -v -chaos.orders=200
var (
	orders  = flag.Int("chaos.orders", 24, "orders in the chaos run (the full run is 200)")
	verbose = flag.Bool("chaos.logs", false, "show the workers' and the stack's warnings")
	timeout = flag.Duration("chaos.timeout", 8*time.Minute, "bound on the run (go test's own -timeout must be longer)")
	seed    = flag.Int64("chaos.seed", 1, "seed of the injected faults and the webhook shuffling")

	lostOrders = flag.Int("chaos.lost-orders", 12, "orders in the lost-webhook run")
)

// asEpcflow makes this test binary act as the epcflow command, so the suite runs its workers
// as child processes (`<test binary> worker …`), as `epcflow chaos` does with itself.
const asEpcflow = "EPCFLOW_CHAOS_TEST_AS_EPCFLOW"

func TestMain(m *testing.M) {
	cli.RunIfChild(asEpcflow)
	os.Exit(m.Run())
}

// run runs the chaos suite with cfg (its parts' processes are this test binary) and fails the
// test on every deviation found.
func run(t *testing.T, cfg chaos.Config) *chaos.Report {
	t.Helper()
	if testing.Short() {
		t.Skip("chaos: runs a real Temporal server and worker processes")
	}
	exe, err := os.Executable()
	require.NoError(t, err)
	cfg.DataDir, cfg.Timeout, cfg.Seed = t.TempDir(), *timeout, *seed
	cfg.WorkerCommand, cfg.WorkerEnv = []string{exe}, []string{asEpcflow + "=1"}
	cfg.Progress = tlogWriter{t}
	if *verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
		cfg.WorkerStderr = tlogWriter{t}
	}
	rep, err := chaos.Run(context.Background(), cfg)
	require.NoError(t, err)
	t.Log(rep.Details())
	for _, d := range rep.Deviations {
		t.Error(d)
	}
	require.Equal(t, cfg.Orders, rep.Orders)
	return rep
}

// TestChaos runs the chaos suite: every order must complete with each of its effects done
// exactly once, whatever failed on the way.
func TestChaos(t *testing.T) {
	rep := run(t, chaos.Config{Orders: *orders})
	require.Equal(t, max(1, *orders/8), rep.Packages, "Delivery Room packages alongside the orders")
	require.Equal(t, rep.Packages, rep.PackagesOpened)
	require.Equal(t, max(1, *orders/8), rep.Payments, "Inbank payment sessions alongside the orders")
	require.Equal(t, rep.Payments, rep.PaymentsCompleted)
	require.Equal(t, 2, rep.Kills, "the worker is SIGKILLed twice")
	require.Equal(t, 1, rep.ServerRestarts, "the Temporal server is restarted once")
	require.Equal(t, 1, rep.Outages, "the partner API has one outage")
	require.NotZero(t, rep.Faults["status 503"]+rep.Faults["status 502"], "5xx were injected")
	require.NotZero(t, rep.Faults["status 429"], "429s were injected")
	// The verdict, printed as the run's last line (stdout, so it shows with -v as it is).
	fmt.Println(rep.Summary())
	require.True(t, rep.OK(), rep.Summary())
}

// TestChaosLostWebhooks runs the lost-webhook variant at a CI size: no webhook after an
// order's first ones, the lender cancelling and updating orders all the same; every order must
// end right, acting on the lender's change at the first recheck after it, each effect once,
// under the same faults (one worker kill).
func TestChaosLostWebhooks(t *testing.T) {
	n := *lostOrders
	rep := run(t, chaos.Config{Orders: n, LostWebhooks: true, RecheckInterval: 3 * time.Second, Packages: -1, Payments: -1, Kills: 1})
	require.Equal(t, n/4, rep.Canceled, "every fourth order canceled by the lender")
	require.Equal(t, n-n/4, rep.Completed)
	require.Equal(t, n/2, rep.LenderChanges, "a cancellation or an update for every other order")
	require.Positive(t, rep.WebhooksWithheld)
	fmt.Println(rep.Summary())
	require.True(t, rep.OK(), rep.Summary())
}

// tlogWriter sends lines to the test log.
type tlogWriter struct{ t *testing.T }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Log(string(trimNewline(p)))
	return len(p), nil
}

func trimNewline(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}
