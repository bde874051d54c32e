//go:build !production

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/epcflow/epcflow/chaos"
)

// errChaosFailed makes `epcflow chaos` exit 1 when the run found deviations.
var errChaosFailed = errors.New("deviations found")

func runChaos(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "chaos")
	var (
		c          chaos.Config
		workerLogs bool
		logs       logging
		seed       int
	)
	loadFlags(f, &c.Orders, &c.Rate, &seed, &c.Timeout, "", "bound on the whole run")
	f.integer(&c.Payments, "payments", "", 0, "Inbank payment sessions created and paid alongside (0: orders/8; negative: none)")
	f.integer(&c.Packages, "packages", "", 0, "Delivery Room packages sent alongside, each 3 times, and opened by their recipients (0: orders/8; negative: none)")
	f.Float64Var(&c.ErrorRate, "error-rate", 0.3, "share of partner calls answered 5xx (negative: none)")
	f.Float64Var(&c.RateLimited, "rate-limited", 0.05, "share of partner calls answered 429 with Retry-After (negative: none)")
	f.Float64Var(&c.LostReplies, "lost-replies", 0.05, "share of partner calls answered 5xx after the platform did the work (negative: none)")
	f.duration(&c.Latency, "latency", "", 20*time.Millisecond, "latency added to every partner call")
	f.duration(&c.Outage, "outage", "", 10*time.Second, "length of the partner API outage (negative: none)")
	f.integer(&c.WebhookCopies, "webhook-copies", "", 3, "deliveries of every webhook, shuffled")
	f.boolean(&c.LostWebhooks, "lost-webhooks", false, "deliver no webhook after an order's first ones; the lender cancels every 4th order and supplies the missing input of every 4th: the workers' recheck must end each right")
	f.duration(&c.RecheckInterval, "recheck-interval", "", 0, "the workers' --recheck-interval (0: theirs, 6h; with --lost-webhooks 5s)")
	f.integer(&c.Kills, "kills", "", 2, "times the first worker process is SIGKILLed and restarted (negative: none)")
	f.duration(&c.ServerDowntime, "server-downtime", "", 3*time.Second, "how long the Temporal server stays down in its restart (negative: no restart)")
	f.str(&c.DataDir, "data-dir", "", "", "directory for the run's database and files (default: a temporary one, removed after)")
	f.boolean(&workerLogs, "worker-logs", false, "show the worker processes' warnings")
	logs.register(f, "text")
	if e.getenv("LOG_LEVEL") == "" {
		if err := f.Set("log-level", "error"); err != nil { // progress lines, not the stack's retries
			return err
		}
	}
	if err := f.parse(args); err != nil {
		return err
	}
	if c.Orders <= 0 {
		return usageErr("--orders %d: must be positive", c.Orders)
	}
	if c.Rate <= 0 {
		return usageErr("--rate %g: must be positive", c.Rate)
	}
	c.Seed = int64(seed)
	log, err := logs.logger(e.stderr)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this binary to run the workers: %w", err)
	}
	c.WorkerCommand, c.Logger, c.Progress = []string{exe}, log, e.stderr
	if workerLogs {
		c.WorkerStderr = e.stderr
	}
	rep, err := chaos.Run(ctx, c)
	if err != nil {
		return err
	}
	return printVerdict(e.stdout, rep.Details(), rep.Deviations, rep.Summary(), rep.OK(), errChaosFailed)
}

// loadFlags registers the flags chaos and drill share: the orders (ordersAlso says what else
// goes alongside them), their rate, the faults' seed and the bound on the run.
func loadFlags(f *flags, orders *int, rate *float64, seed *int, timeout *time.Duration, ordersAlso, timeoutUsage string) {
	f.integer(orders, "orders", "", 200, "orders to place (Appraisals and FloodCertifications alternating)"+ordersAlso)
	f.Float64Var(rate, "rate", 10, "orders placed per second")
	f.integer(seed, "seed", "", 1, "seed of the injected faults and the webhook shuffling")
	f.duration(timeout, "timeout", "", 10*time.Minute, timeoutUsage)
}

// printVerdict writes what a chaos run or a drill found: its details, each deviation and its
// summary line; failed (exit 1) when it did not pass.
func printVerdict(w io.Writer, details string, deviations []string, summary string, ok bool, failed error) error {
	fmt.Fprintln(w, details)
	for _, d := range deviations {
		fmt.Fprintln(w, "deviation: "+d)
	}
	fmt.Fprintln(w, summary)
	if !ok {
		return failed
	}
	return nil
}
