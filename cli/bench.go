//go:build !production

package cli

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"github.com/epcflow/epcflow/bench"
	"github.com/epcflow/epcflow/devserver"
)

func runBench(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "bench")
	var (
		orders, open, warmup int
		longDays, longHooks  int
		rate                 float64
		db, out, workerLogs  string
		cpuProfile           string
		encrypt, inProcess   bool
		openOnly             bool
		search, day          time.Duration
		logs                 logging
	)
	f.integer(&orders, "orders", "", bench.DefaultOrders, "FloodCertification orders measured end to end (the ceiling runs as many workflows)")
	f.Float64Var(&rate, "rate", bench.DefaultRate, "orders started per second, open loop (each order's webhooks go out on schedule); negative: all at once")
	f.integer(&warmup, "warmup", "", bench.DefaultWarmup, "orders run first and not measured (negative: none)")
	f.integer(&open, "open", "", 0, "Appraisal orders to leave waiting for the appraiser before reading the worker's memory (the target is for --open 10000)")
	f.boolean(&openOnly, "open-only", false, "with --open: measure only the open orders (no end-to-end, floor, ceiling or search)")
	f.duration(&search, "search", "", 3*time.Minute, "time budget of the search for the highest sustainable rate (end-to-end p99 under 2 s) after the saturated run; 0: no search")
	f.integer(&longDays, "long-open-days", "", 0, "measure only one Appraisal order left open this many days (time compressed, see --day): a progress note a day and --long-open-webhooks webhooks; its history's events and bytes")
	f.integer(&longHooks, "long-open-webhooks", "", bench.DefaultLongOpenWebhooks, "webhooks the long-open order receives over its days")
	f.duration(&day, "day", "", bench.DefaultDay, "how long a day lasts in --long-open-days (the worker rechecks every quarter of it, as every 6 h)")
	f.temporalDB(&db, "temporal-db", "", devserver.MemoryDB, "Temporal `database`: \":memory:\" (SQLite in memory), a SQLite file, or postgres://user[:password]@host[:port]/NAME (databases NAME and NAME_visibility, created when missing)")
	f.Var(dbValue{&db}, "db", "the same as --temporal-db (its older name)")
	f.str(&out, "out", "", "bench-out", "directory for bench.json, bench.md and bench-latency.png")
	f.boolean(&encrypt, "encrypt-payloads", true, "encrypt Temporal payloads with a generated key, as `epcflow dev` does")
	f.boolean(&inProcess, "in-process-worker", false, "run the worker in this process instead of as a child `epcflow worker` (its memory then includes the server's)")
	f.str(&workerLogs, "worker-log-level", "", "warn", "log level of the child worker")
	f.str(&cpuProfile, "cpuprofile", "", "", "write a CPU profile of this process (all of it with --in-process-worker) to this file, for go tool pprof")
	logs.registerAt(f, "text", "warn") // a loaded stack's logs would drown the progress lines
	if err := f.parse(args); err != nil {
		return err
	}
	if orders <= 0 {
		return usageErr("--orders %d: must be positive", orders)
	}
	if open < 0 {
		return usageErr("--open %d: must not be negative", open)
	}
	if openOnly && open == 0 {
		return usageErr("--open-only needs --open N")
	}
	if longDays < 0 || longHooks <= 0 {
		return usageErr("--long-open-days %d, --long-open-webhooks %d: days must not be negative, webhooks must be positive", longDays, longHooks)
	}
	if day < 40*time.Millisecond {
		return usageErr("--day %s: at least 40ms", day)
	}
	if search < 0 {
		return usageErr("--search %s: must not be negative", search)
	}
	if rate == 0 {
		return usageErr("--rate 0: give orders per second, or a negative rate for all at once")
	}
	if err := devserver.ValidateDBPath(db); err != nil {
		return usageErr("--temporal-db: %v", err)
	}
	log, err := logs.logger(e.stderr)
	if err != nil {
		return err
	}
	cfg := bench.Config{
		Orders: orders, Rate: rate, Warmup: warmup, Open: open, OpenOnly: openOnly, SearchBudget: search,
		LongOpenDays: longDays, LongOpenWebhooks: longHooks, Day: day, DBPath: db, Encrypt: encrypt,
		WorkerLogLevel: workerLogs, Logger: log, Progress: e.stderr, Stderr: e.stderr,
	}
	if warmup == 0 {
		cfg.Warmup = -1 // Config's zero means the default
	}
	if !inProcess {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find this binary to run the worker: %w (or use --in-process-worker)", err)
		}
		cfg.WorkerCommand = []string{exe}
	}
	if cpuProfile != "" {
		pf, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	paths, err := rep.WriteFiles(out)
	if err != nil {
		return err
	}
	fmt.Fprint(e.stdout, rep.Markdown())
	fmt.Fprintln(e.stdout)
	for _, p := range paths {
		fmt.Fprintf(e.stdout, "wrote %s\n", p)
	}
	fmt.Fprintln(e.stdout, rep.Line())
	return nil
}
