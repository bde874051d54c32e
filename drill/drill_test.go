package drill_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/cli"
	"github.com/epcflow/epcflow/drill"
	"github.com/epcflow/epcflow/internal/testkit"
)

// The CI size; the full drill is `epcflow drill` (or -drill.orders=200).
var (
	orders = flag.Int("drill.orders", 16, "orders in the drill (the full one is 200)")
	logs   = flag.Bool("drill.logs", false, "show the processes' warnings")
)

// asEpcflow makes this test binary act as the epcflow command, so the drill runs its
// Temporal process as `<test binary> temporal …`, as `epcflow drill` does with itself.
const asEpcflow = "EPCFLOW_DRILL_TEST_AS_EPCFLOW"

func TestMain(m *testing.M) {
	cli.RunIfChild(asEpcflow)
	os.Exit(m.Run())
}

// TestDrill runs the production layout as processes (Temporal on PostgreSQL, two API
// replicas, three workers), kills each kind and upgrades the workers halfway: every order
// completes, each effect once, the first half on the old path and the rest on the new.
func TestDrill(t *testing.T) {
	if testing.Short() {
		t.Skip("drill: builds epcflow and runs a Temporal server and five epcflow processes")
	}
	exe, err := os.Executable()
	require.NoError(t, err)
	cfg := drill.Config{
		Orders: *orders, Rate: 8, Postgres: postgres(t), Source: "..", Timeout: 8 * time.Minute,
		TemporalCommand: []string{exe}, TemporalEnv: []string{asEpcflow + "=1"}, Progress: tlog{t},
	}
	if *logs {
		cfg.Logs = tlog{t}
	}
	res, err := drill.Run(context.Background(), cfg)
	require.NoError(t, err)
	t.Log(res.Details())
	for _, d := range res.Deviations {
		t.Error(d)
	}
	require.Equal(t, *orders, res.Orders)
	require.Equal(t, 1, res.KilledTemporal)
	require.Equal(t, 1, res.KilledAPI)
	require.Equal(t, 3, res.KilledWorkers)
	require.Equal(t, 3, res.Upgraded)
	require.Equal(t, *orders/2, res.OldPath, "orders placed before the upgrade on the old path")
	require.Equal(t, *orders-*orders/2, res.NewPath, "orders placed after it on the new")
	require.Equal(t, res.Packages, res.PackagesOpened)
	require.Equal(t, res.Payments, res.PaymentsCompleted)
	fmt.Println(res.Line())
	require.True(t, res.OK(), res.Line())
}

// postgres is the server the drill's databases go on (testkit.PostgresServer).
func postgres(t *testing.T) string {
	return strings.TrimSuffix(testkit.PostgresServer(t).String(), "/")
}

// tlog sends lines to the test log.
type tlog struct{ t *testing.T }

func (w tlog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
