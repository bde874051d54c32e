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
	f.integer(&c.Orders, "orders", "", 200, "orders to place (Appraisals and FloodCertifications alternating), with Delivery Room packages and Inbank payments alongside (orders/8 each)")
	f.Float64Var(&c.Rate, "rate", 10, "orders placed per second")
	f.integer(&c.WorkerKills, "worker-kills", "", 3, "times a worker process is SIGKILLed with activities in flight and restarted (negative: none)")
	f.duration(&c.APIDowntime, "api-downtime", "", 2*time.Second, "how long the SIGKILLed API replica stays down")
	f.duration(&c.TemporalDowntime, "temporal-downtime", "", 3*time.Second, "how long the SIGKILLed Temporal process stays down")
	f.str(&c.Postgres, "postgres", "EPCFLOW_DRILL_POSTGRES", "postgres://postgres@127.0.0.1:5432", "PostgreSQL server for the run's databases (fresh ones, dropped afterwards; the user needs CREATEDB)")
	f.str(&c.Source, "source", "", ".", "epcflow's source tree, where the lean worker and API binaries and their upgrade are built")
	f.duration(&c.Timeout, "timeout", "", 10*time.Minute, "bound on the whole drill, builds included")
	f.integer(&seed, "seed", "", 1, "seed of the injected faults and the webhook shuffling")
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
	fmt.Fprintln(e.stdout, res.Details())
	for _, d := range res.Deviations {
		fmt.Fprintln(e.stdout, "deviation: "+d)
	}
	fmt.Fprintln(e.stdout, res.Line())
	if !res.OK() {
		return errDrillFailed
	}
	return nil
}
