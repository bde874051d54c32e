// Package bench measures epcflow against the ceiling Temporal sets on the same machine: N
// FloodCertification orders from signed webhook to completed PATCH through the whole stack
// (API → Temporal → worker → activities → sandbox), then a minimal workflow with as many no-op
// activities per order, started directly on the same server at the same rate. Optionally, N
// Appraisal orders are left open waiting for the appraiser, to read the worker's memory.
//
// Everything runs in one process (embedded Temporal server, sandbox, API) except, when
// Config.WorkerCommand is set, the epcflow worker, which then runs as a child process so that
// its memory is its own. `epcflow bench` is the command; Run is the library entry point.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/epcflow/epcflow/codec"
	"github.com/epcflow/epcflow/demo"
	"github.com/epcflow/epcflow/devserver"
	"github.com/epcflow/epcflow/internal/localrun"
	"github.com/epcflow/epcflow/sandbox"
	"github.com/epcflow/epcflow/stack"
	"github.com/epcflow/epcflow/workerproc"
)

// Defaults applied by Run.
const (
	DefaultOrders = 200
	DefaultRate   = 50.0
	DefaultWarmup = 2
)

// Config configures a run. The zero value runs the default benchmark with an in-process worker.
type Config struct {
	// Orders is how many FloodCertification orders are measured (default DefaultOrders); the
	// ceiling runs as many workflows.
	Orders int
	// Rate is how many orders start per second, open loop: each order's webhooks go out on
	// schedule however slow earlier answers are (default DefaultRate; negative: all at once).
	Rate float64
	// Warmup orders (and ceiling workflows) run first and are not measured (default
	// DefaultWarmup; negative: none): connections, tokens and caches are then warm.
	Warmup int
	// Open is how many Appraisal orders are left waiting for the appraiser before the
	// worker's memory and the database's size are read (0: skip).
	Open int
	// OpenOnly skips every other phase: only the open orders are measured.
	OpenOnly bool
	// LongOpenDays, when positive, runs only the long-open measurement (longopen.go): one
	// Appraisal order left open that many days, a day lasting Day (default DefaultDay), with
	// LongOpenWebhooks webhooks (default DefaultLongOpenWebhooks).
	LongOpenDays     int
	LongOpenWebhooks int
	Day              time.Duration
	// SearchBudget bounds the search for the highest sustainable rate (0: no search); it
	// runs after the saturated run, floor and ceiling.
	SearchBudget time.Duration
	// CeilingOnly skips the end-to-end measurement: one warm-up flood order gives the number
	// of activities per order, then only the ceiling runs.
	CeilingOnly bool
	// DBPath is the Temporal database: a SQLite file or a PostgreSQL URL (see
	// devserver.Config.DBPath); default devserver.MemoryDB.
	DBPath string
	// DataDir holds stored files (certificates); default a temporary directory, removed.
	DataDir string
	// Encrypt encrypts Temporal payloads with a generated key, as `epcflow dev` does.
	Encrypt bool
	// WorkerCommand, when set, is the argv prefix of the epcflow binary (e.g.
	// []string{os.Args[0]}); the worker then runs as `<command> worker …`, a child process.
	// Empty runs the worker in this process, whose memory then includes everything.
	WorkerCommand []string
	// WorkerEnv is added to the child worker's environment.
	WorkerEnv []string
	// WorkerLogLevel is the child worker's --log-level (default "warn").
	WorkerLogLevel string
	// Timeout bounds the end-to-end and ceiling phases together (default 10 minutes); the
	// open-orders phase has its own bound, growing with Open.
	Timeout time.Duration
	// Logger receives the stack's logs; nil discards them.
	Logger *slog.Logger
	// Progress receives a line per step; nil discards them.
	Progress io.Writer
	// Stderr receives the child worker's output (default os.Stderr).
	Stderr io.Writer
}

func (c Config) withDefaults() (Config, error) {
	if c.Orders == 0 {
		c.Orders = DefaultOrders
	}
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	switch {
	case c.Warmup == 0:
		c.Warmup = DefaultWarmup
	case c.Warmup < 0:
		c.Warmup = 0
	}
	if c.DBPath == "" {
		c.DBPath = devserver.MemoryDB
	}
	if c.LongOpenWebhooks == 0 {
		c.LongOpenWebhooks = DefaultLongOpenWebhooks
	}
	if c.Day == 0 {
		c.Day = DefaultDay
	}
	if c.WorkerLogLevel == "" {
		c.WorkerLogLevel = "warn"
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.Stderr == nil {
		c.Stderr = os.Stderr
	}
	var errs []error
	if c.Orders < 0 {
		errs = append(errs, fmt.Errorf("orders %d: must be positive", c.Orders))
	}
	if c.Open < 0 {
		errs = append(errs, fmt.Errorf("open %d: must not be negative", c.Open))
	}
	if c.LongOpenDays < 0 || c.LongOpenWebhooks < 0 {
		errs = append(errs, fmt.Errorf("long open: %d days, %d webhooks: must not be negative", c.LongOpenDays, c.LongOpenWebhooks))
	}
	if c.Day < 40*time.Millisecond {
		errs = append(errs, fmt.Errorf("day %s: at least 40ms (a recheck every quarter day)", c.Day))
	}
	return c, errors.Join(errs...)
}

// Run runs the benchmark and returns its report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	r := &runner{cfg: cfg, http: newHTTPClient(), progress: cfg.Progress, runID: time.Now().UTC().Format("20060102T150405.000")}
	return localrun.Do(ctx, &r.cleanups, r.start, r.run)
}

// runner is one run's parts.
type runner struct {
	cfg      Config
	st       *stack.Stack
	sb       *sandbox.Server
	sink     *sink
	lender   *demo.Lender
	http     *http.Client
	worker   *workerproc.Process // nil: in-process worker
	runID    string              // makes ceiling workflow ids unique across runs on one database
	idle     Memory              // the worker's, before any order
	cleanups localrun.Cleanups
	progress io.Writer
}

// start sets the run's parts up, each undone through r.cleanups (localrun.Do).
func (r *runner) start(ctx context.Context) (err error) {
	cfg := r.cfg
	dataDir := cfg.DataDir
	if dataDir == "" {
		if dataDir, err = os.MkdirTemp("", "epcflow-bench-"); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		r.cleanups.Add(func() { _ = os.RemoveAll(dataDir) })
	}

	// The sandbox's partner URL is the sink, which hands the orders' first webhooks to the
	// benchmark and relays the rest to the API.
	r.sink = newSink(r.http)
	sinkURL, stopSink, err := serveHTTP(r.sink)
	if err != nil {
		return fmt.Errorf("bench: sink: %w", err)
	}
	r.cleanups.Add(stopSink)
	r.sb, err = sandbox.New(sandbox.Config{PartnerURL: sinkURL, WebhookRetryInterval: webhookRetryFirst, WebhookTries: sandboxWebhookTries, Logger: cfg.Logger.With("component", "sandbox")})
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	r.cleanups.Add(func() { _ = r.sb.Close() })
	sbURL, stopSandbox, err := serveHTTP(r.sb.Handler())
	if err != nil {
		return fmt.Errorf("bench: sandbox: %w", err)
	}
	r.sb.SetPublicURL(sbURL)
	r.cleanups.Add(stopSandbox)
	r.lender = demo.NewLender(sbURL)
	r.lender.HTTP = r.http

	var keys *codec.Keyring
	var formatted string
	if cfg.Encrypt {
		k, err := codec.GenerateKey("bench")
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		if keys, err = codec.NewKeyring(k); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		formatted = codec.FormatKeys(k)
	}
	fmt.Fprintf(r.progress, "bench: starting the embedded Temporal server (%s)\n", describeDB(cfg.DBPath))
	var recheck time.Duration
	if cfg.LongOpenDays > 0 {
		recheck = cfg.Day / 4 // 6 h of a day, as workflows.DefaultRecheckInterval
	}
	r.st, err = stack.Start(ctx, stack.Config{
		DataDir: dataDir, DBPath: cfg.DBPath, UIPort: devserver.NoUI, RecheckInterval: recheck,
		SandboxURL: sbURL, NoWorker: len(cfg.WorkerCommand) > 0, CodecKeys: keys, Logger: cfg.Logger,
	})
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	r.cleanups.Add(func() { _ = r.st.Close() })
	if len(cfg.WorkerCommand) > 0 {
		r.worker, err = workerproc.Start(ctx, r.st.Client, workerproc.Config{
			Command: cfg.WorkerCommand, Env: cfg.WorkerEnv,
			Frontend: r.st.Server.FrontendAddress(), Namespace: r.st.Server.Namespace(),
			SandboxURL: sbURL, BlobDir: filepath.Join(dataDir, "blobs"), CodecKeys: formatted,
			LogLevel: cfg.WorkerLogLevel, Stderr: cfg.Stderr, RecheckInterval: recheck,
		})
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		w := r.worker
		// Stopped before the stack: it would otherwise log connection errors as it goes.
		r.cleanups.Add(func() { _ = w.Stop(15 * time.Second) })
		fmt.Fprintf(r.progress, "bench: worker running as child process %d\n", w.PID())
	}
	// Map the flood service event as a lender would, so the platform's processing does work.
	if err := putJSON(ctx, r.http, sbURL+"/sandbox/epc/service-event-mappings", `{"FLOOD-DETERMINED":["task","notification"]}`); err != nil {
		return fmt.Errorf("bench: service event mapping: %w", err)
	}
	r.sink.forward(r.st.APIURL, nil)
	return nil
}

func (r *runner) run(ctx context.Context) (*Report, error) {
	cfg := r.cfg
	rep := &Report{Environment: Environment{
		Started: time.Now().UTC(), GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH,
		CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Orders: cfg.Orders, Rate: cfg.Rate,
		Warmup: cfg.Warmup, Database: describeDB(cfg.DBPath), Encrypted: cfg.Encrypt, WorkerMode: "in process",
		LoadAverageStart: loadAverage(),
	}}
	if r.worker != nil {
		rep.Environment.WorkerMode = "child process"
	}
	phaseCtx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	var err error
	if rep.WorkerIdle, err = r.workerMemory(); err != nil {
		return nil, err
	}
	r.idle = rep.WorkerIdle
	if cfg.LongOpenDays > 0 {
		longCtx, cancel := context.WithTimeout(ctx, time.Duration(cfg.LongOpenDays)*cfg.Day+5*time.Minute)
		defer cancel()
		if rep.LongOpen, err = r.longOpen(longCtx, cfg.LongOpenDays, cfg.LongOpenWebhooks, cfg.Day); err != nil {
			return nil, err
		}
		return r.finish(ctx, rep)
	}

	if cfg.OpenOnly {
		return r.finish(ctx, rep)
	}
	activities := 0
	if cfg.CeilingOnly {
		h, err := r.floodOnce(phaseCtx)
		if err != nil {
			return nil, err
		}
		activities = h.Activities
	} else {
		e2e, err := r.endToEnd(phaseCtx, cfg.Orders, cfg.Warmup, cfg.Rate)
		if err != nil {
			return nil, err
		}
		rep.EndToEnd = e2e
		activities = e2e.History.Activities
	}
	if rep.Worker, err = r.workerMemory(); err != nil {
		return nil, err
	}

	stopRef, err := r.startRefWorker()
	if err != nil {
		return nil, err
	}
	defer stopRef()
	if !cfg.CeilingOnly {
		f, err := r.floor(phaseCtx)
		if err != nil {
			return nil, err
		}
		rep.Floor = &f
	}
	if rep.Ceiling, err = r.ceiling(phaseCtx, activities); err != nil {
		return nil, err
	}
	if e := rep.EndToEnd; e != nil && rep.Ceiling.Throughput > 0 && e.Latency.P50 > 0 {
		rep.Ratio = round2(e.Throughput / rep.Ceiling.Throughput)
		rep.LatencyRatioP50 = round2(rep.Ceiling.Latency.P50 / e.Latency.P50)
		if e.CPU.PerOrderMs > 0 {
			rep.CPURatio = round2(rep.Ceiling.CPU.PerOrderMs / e.CPU.PerOrderMs)
		}
		if rep.Floor != nil && rep.Floor.Throughput > 0 {
			rep.FloorRatio = round2(e.Throughput / rep.Floor.Throughput)
		}
	}
	if e := rep.EndToEnd; e != nil && cfg.SearchBudget > 0 {
		searchCtx, cancel := context.WithTimeout(ctx, cfg.SearchBudget+2*time.Minute)
		defer cancel()
		if rep.Sustainable, err = r.searchRate(searchCtx, e, cfg.SearchBudget); err != nil {
			return nil, err
		}
	}
	return r.finish(ctx, rep)
}

// finish measures the open orders, if asked, and completes the report.
func (r *runner) finish(ctx context.Context, rep *Report) (_ *Report, err error) {
	cfg := r.cfg
	if cfg.Open > 0 {
		openCtx, cancel := context.WithTimeout(ctx, 5*time.Minute+time.Duration(cfg.Open)*200*time.Millisecond)
		defer cancel()
		if rep.Open, err = r.openOrders(openCtx, cfg.Open); err != nil {
			return nil, err
		}
	}
	if rep.Process, err = r.processMemory(); err != nil {
		return nil, err
	}
	if err := r.sink.err(); err != nil {
		return nil, fmt.Errorf("bench: webhook sink: %w", err)
	}
	rep.Targets = targets(rep)
	rep.Environment.LoadAverageEnd = loadAverage()
	return rep, nil
}

// processMemory reads this process's memory.
func (r *runner) processMemory() (Memory, error) {
	what := "bench process: Temporal server, API, sandbox"
	if r.worker == nil {
		what += ", worker"
	}
	return readMemory(os.Getpid(), what)
}

// workerMemory reads the worker's memory: the child's, or this whole process's.
func (r *runner) workerMemory() (Memory, error) {
	if r.worker != nil {
		return readMemory(r.worker.PID(), "epcflow worker (child process)")
	}
	return readMemory(os.Getpid(), "whole bench process: worker in process with the Temporal server, API and sandbox")
}

// loadAverage is the 1-minute load average, or -1 where /proc/loadavg cannot be read.
func loadAverage() float64 {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	var l float64
	if _, err := fmt.Sscan(string(raw), &l); err != nil {
		return -1
	}
	return l
}

func describeDB(path string) string {
	switch {
	case path == devserver.MemoryDB:
		return "sqlite in memory"
	case devserver.IsPostgres(path):
		return "postgres " + devserver.RedactDBPath(path)
	}
	return "sqlite file " + path
}

func putJSON(ctx context.Context, c *http.Client, url, body string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("PUT %s: %s", url, resp.Status)
	}
	return nil
}
