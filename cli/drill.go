//go:build !production

package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/epcflow/epcflow/drill"
)

// errDrillFailed makes `epcflow drill` exit 1 when orders were lost or effects duplicated.
var errDrillFailed = errors.New("orders lost or effects duplicated")

func runDrill(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "drill")
	var (
		c    drill.Config
		logs bool
		seed int
	)
	loadFlags(f, &c.Orders, &c.Rate, &seed, &c.Timeout, ", with Delivery Room packages and Inbank payments alongside (orders/8 each)", "bound on the whole drill, builds included")
	f.integer(&c.WorkerKills, "worker-kills", "", 3, "times a worker process is SIGKILLed with activities in flight and restarted (negative: none)")
	f.duration(&c.APIDowntime, "api-downtime", "", 2*time.Second, "how long the SIGKILLed API replica stays down")
	f.duration(&c.TemporalDowntime, "temporal-downtime", "", 3*time.Second, "how long the SIGKILLed Temporal process stays down")
	f.str(&c.Postgres, "postgres", "EPCFLOW_DRILL_POSTGRES", "postgres://postgres@127.0.0.1:5432", "PostgreSQL server for the run's databases (fresh ones, dropped afterwards; the user needs CREATEDB)")
	f.str(&c.Source, "source", "", ".", "epcflow's source tree, where the lean worker and API binaries and their upgrade are built")
	f.boolean(&logs, "logs", false, "show the processes' warnings")
	if err := f.parse(args); err != nil {
		return err
	}
	if c.Orders < 2 || c.Rate <= 0 {
		return usageErr("--orders %d and --rate %g: at least 2 orders, a positive rate", c.Orders, c.Rate)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this binary to run Temporal with: %w", err)
	}
	c.TemporalCommand, c.Progress, c.Seed = []string{exe}, e.stderr, int64(seed)
	if logs {
		c.Logs = e.stderr
	}
	res, err := drill.Run(ctx, c)
	if err != nil {
		return err
	}
	return printVerdict(e.stdout, res.Details(), res.Deviations, res.Line(), res.OK(), errDrillFailed)
}
