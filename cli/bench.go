//go:build !production

package cli

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/epcflow/epcflow/bench"
	"github.com/epcflow/epcflow/devserver"
)

func runBench(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "bench")
	var (
		orders, open, warmup int
		rate                 float64
		db, out, workerLogs  string
		cpuProfile           string
		encrypt, inProcess   bool
		logs                 logging
	)
	f.integer(&orders, "orders", "", bench.DefaultOrders, "FloodCertification orders measured end to end (the ceiling runs as many workflows)")
	f.Float64Var(&rate, "rate", bench.DefaultRate, "orders started per second, open loop (each order's webhooks go out on schedule); negative: all at once")
	f.integer(&warmup, "warmup", "", bench.DefaultWarmup, "orders run first and not measured (negative: none)")
	f.integer(&open, "open", "", 0, "Appraisal orders to leave waiting for the appraiser before reading the worker's memory (the target is for --open 10000)")
	f.temporalDB(&db, "temporal-db", "", devserver.MemoryDB, "Temporal `database`: \":memory:\" (SQLite in memory), a SQLite file, or postgres://user[:password]@host[:port]/NAME (databases NAME and NAME_visibility, created when missing)")
	f.Var(dbValue{&db}, "db", "the same as --temporal-db (its older name)")
	f.str(&out, "out", "", "bench-out", "directory for bench.json, bench.md and bench-latency.png")
	f.boolean(&encrypt, "encrypt-payloads", true, "encrypt Temporal payloads with a generated key, as `epcflow dev` does")
	f.boolean(&inProcess, "in-process-worker", false, "run the worker in this process instead of as a child `epcflow worker` (its memory then includes the server's)")
	f.str(&workerLogs, "worker-log-level", "", "warn", "log level of the child worker")
	f.str(&cpuProfile, "cpuprofile", "", "", "write a CPU profile of this process (all of it with --in-process-worker) to this file, for go tool pprof")
	logs.register(f, "text")
	// Logs of a loaded stack would drown the progress lines: warnings only, unless asked.
	if e.getenv("LOG_LEVEL") == "" {
		if err := f.Set("log-level", "warn"); err != nil {
			return err
		}
	}
	if err := f.parse(args); err != nil {
		return err
	}
	if orders <= 0 {
		return usageErr("--orders %d: must be positive", orders)
	}
	if open < 0 {
		return usageErr("--open %d: must not be negative", open)
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
		Orders: orders, Rate: rate, Warmup: warmup, Open: open, DBPath: db, Encrypt: encrypt,
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
