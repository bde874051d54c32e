// Package drill runs epcflow's production layout as separate OS processes on one machine and
// breaks it while orders of every flow run: Temporal in its own process on PostgreSQL
// (SIGKILLed and started again on the same database), two API replicas the sandbox spreads
// its webhooks over as a load balancer would (one SIGKILLed while webhooks flow, and
// restarted), three workers (SIGKILLed in the middle of activities), and halfway a rolling
// upgrade: the workers are replaced one by one by a build whose transaction workflow has a
// versioned change (workflows/drillupgrade.go). The orders, the faults and the final count of
// lost and duplicated effects are the chaos suite's (package chaos); the sandbox runs in the
// drill's own process.
//
// `epcflow drill` runs it at full size; `go test ./drill/` at a CI size.
package drill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/epcflow/epcflow/chaos"
	"github.com/epcflow/epcflow/codec"
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/internal/httpserver"
	"github.com/epcflow/epcflow/internal/localrun"
	"github.com/epcflow/epcflow/sandbox"
	"github.com/epcflow/epcflow/stack"
	"github.com/epcflow/epcflow/vocab"
	"github.com/epcflow/epcflow/workerproc"
	"github.com/epcflow/epcflow/workflows"
)

// Config sizes one drill. The zero value (with TemporalCommand) is the full drill.
type Config struct {
	// Orders to place (default 200), Appraisals and FloodCertifications alternating; Rate per
	// second (default 10). Delivery Room packages and Inbank payments run alongside (chaos).
	Orders int
	Rate   float64
	// WorkerKills is how many times a worker is SIGKILLed with activities in flight and
	// restarted (default 3; negative: none), each time the next worker.
	WorkerKills int
	// APIDowntime and TemporalDowntime are how long the killed API replica and the killed
	// Temporal process stay down (defaults 2s and 3s).
	APIDowntime, TemporalDowntime time.Duration
	// Postgres is the server for the run's databases, postgres://user@host:port (default
	// postgres://postgres@127.0.0.1:5432): fresh ones per run, dropped afterwards.
	Postgres string
	// TemporalCommand is the argv prefix of a full epcflow build, which runs `temporal`;
	// TemporalEnv is added to its environment.
	TemporalCommand, TemporalEnv []string
	// Source is epcflow's source tree, where the worker and API binaries are built (default:
	// found from the working directory upwards).
	Source string
	// Timeout bounds the whole drill, builds included (default 10 min).
	Timeout time.Duration
	// Seed of the faults and the webhook shuffling (default 1).
	Seed int64
	// Progress receives one line per phase; Logs the child processes' and the sandbox's
	// warnings (nil: discarded).
	Progress, Logs io.Writer
}

func (c Config) withDefaults() (Config, error) {
	c.Orders = cmpOr(c.Orders, 200)
	if c.Rate == 0 {
		c.Rate = 10
	}
	switch {
	case c.WorkerKills == 0:
		c.WorkerKills = 3
	case c.WorkerKills < 0:
		c.WorkerKills = 0
	}
	c.APIDowntime = cmpOr(c.APIDowntime, 2*time.Second)
	c.TemporalDowntime = cmpOr(c.TemporalDowntime, 3*time.Second)
	c.Postgres = cmpOr(c.Postgres, "postgres://postgres@127.0.0.1:5432")
	c.Timeout = cmpOr(c.Timeout, 10*time.Minute)
	c.Seed = cmpOr(c.Seed, 1)
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	var errs []error
	if c.Orders < 2 {
		errs = append(errs, fmt.Errorf("orders %d: at least 2 (one on each side of the upgrade)", c.Orders))
	}
	if c.Rate < 0 || c.APIDowntime < 0 || c.TemporalDowntime < 0 {
		errs = append(errs, errors.New("rate and downtimes must be positive"))
	}
	if len(c.TemporalCommand) == 0 {
		errs = append(errs, errors.New("no Temporal command (a full epcflow build, which runs `epcflow temporal`)"))
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("drill: %w", err)
	}
	return c, nil
}

func cmpOr[T comparable](v, d T) T {
	var zero T
	if v == zero {
		return d
	}
	return v
}

// Result is what a drill found: the chaos suite's report, what was killed and upgraded, and
// which path each order took.
type Result struct {
	*chaos.Report
	KilledTemporal, KilledAPI, KilledWorkers, KilledWorkersMidActivity, Upgraded int
	// OldPath and NewPath count the orders whose sandbox record shows the path they took: no
	// upgrade event (started before the upgrade) or exactly one (after).
	OldPath, NewPath int
	Build, Duration  time.Duration
}

// OK reports whether nothing was lost, duplicated or otherwise amiss.
func (r *Result) OK() bool { return r.Report.OK() }

// Line is the drill's one-line verdict.
func (r *Result) Line() string {
	return fmt.Sprintf("drill: %d orders, %d completed, %d lost, %d duplicated effects; killed temporal %d, api %d, workers %d; upgraded %d workers",
		r.Orders, r.Completed, r.Lost, r.DuplicatedEffects, r.KilledTemporal, r.KilledAPI, r.KilledWorkers, r.Upgraded)
}

// Details is the chaos report's account and the drill's own.
func (r *Result) Details() string {
	return fmt.Sprintf("%s\ndrill: %s (binaries built in %s); workers SIGKILLed %d times (%d with activities in flight); paths: %d orders on the old (no upgrade event), %d on the new (one)",
		r.Report.Details(), r.Duration.Round(100*time.Millisecond), r.Build.Round(100*time.Millisecond), r.KilledWorkers, r.KilledWorkersMidActivity, r.OldPath, r.NewPath)
}

// run is one drill's parts.
type run struct {
	cfg      Config
	started  time.Time
	log      *slog.Logger
	c        client.Client
	temporal *temporalProc
	apis     []*apiProc

	mu       sync.Mutex // the workers: kills and the upgrade take turns
	workers  []*workerproc.Process
	wcfg     []workerproc.Config
	upgraded string // the upgraded binary
	res      Result
	cleanups localrun.Cleanups
}

func (r *run) printf(format string, args ...any) {
	fmt.Fprintf(r.cfg.Progress, "drill: %6.1fs  %s\n", time.Since(r.started).Seconds(), fmt.Sprintf(format, args...))
}

// Run performs one drill. An error means it could not be carried out; what went wrong with
// the orders is in the Result (OK false).
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	r := &run{cfg: cfg, started: time.Now(), log: slog.New(slog.DiscardHandler)}
	if cfg.Logs != nil {
		r.log = slog.New(slog.NewTextHandler(cfg.Logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	defer r.cleanups.Run()
	parts, err := r.start(ctx)
	if err != nil {
		return nil, fmt.Errorf("drill: %w", err)
	}
	half := cfg.Orders / 2
	rep, err := chaos.Run(ctx, chaos.Config{
		Orders: cfg.Orders, Rate: cfg.Rate, Seed: cfg.Seed, Timeout: cfg.Timeout, Progress: cfg.Progress, Logger: r.log,
		Parts: parts, Steps: r.steps(), Halfway: func(ctx context.Context, placed []string) error {
			err := r.upgrade(ctx, placed)
			if err != nil {
				r.printf("rolling upgrade failed: %v", err)
			}
			return err
		},
	})
	if err != nil {
		return nil, fmt.Errorf("drill: %w", err)
	}
	// The kills were the drill's: the chaos report's account of them says so.
	rep.Kills, rep.KillsMidActivity, rep.ServerRestarts = r.res.KilledWorkers, r.res.KilledWorkersMidActivity, r.res.KilledTemporal
	r.res.Report = rep
	if err := r.checkPaths(context.WithoutCancel(ctx), sandboxLender{parts.SandboxURL}, rep.Transactions, half); err != nil {
		return nil, fmt.Errorf("drill: %w", err)
	}
	r.res.Duration = time.Since(r.started)
	return &r.res, nil
}

// start builds the binaries and starts every part: PostgreSQL databases, Temporal, the
// sandbox, two API replicas and three workers.
func (r *run) start(ctx context.Context) (*chaos.Parts, error) {
	cfg := r.cfg
	src := cfg.Source
	if src == "" {
		src = "."
	}
	src, err := moduleRoot(src)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "epcflow-drill-")
	if err != nil {
		return nil, err
	}
	r.cleanups.Add(func() { _ = os.RemoveAll(dir) })
	t0 := time.Now()
	oldBin, newBin, err := buildBinaries(ctx, src, dir)
	if err != nil {
		return nil, err
	}
	r.upgraded, r.res.Build = newBin, time.Since(t0)
	r.printf("built the lean worker/API binary and its upgrade (-tags drillupgrade) in %s", r.res.Build.Round(100*time.Millisecond))

	dbs, err := createDatabases(ctx, cfg.Postgres)
	r.cleanups.Add(func() {
		dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := dbs.drop(dctx); err != nil {
			r.printf("could not drop the run's databases: %v", err)
		}
	})
	if err != nil {
		return nil, err
	}

	port, err := localrun.FreePort()
	if err != nil {
		return nil, err
	}
	r.temporal = &temporalProc{command: cfg.TemporalCommand, env: cfg.TemporalEnv, db: dbs.temporal, port: port, logs: cfg.Logs}
	if err := r.temporal.start(ctx); err != nil {
		return nil, err
	}
	r.cleanups.Add(func() { _ = r.temporal.proc.Stop(30 * time.Second) })
	r.printf("Temporal process %d serving %s on PostgreSQL (database %s)", r.temporal.proc.PID(), r.temporal.addr(), dbs.name)

	key, err := codec.GenerateKey("drill")
	if err != nil {
		return nil, err
	}
	ring, err := codec.NewKeyring(key)
	if err != nil {
		return nil, err
	}
	if r.c, err = stack.Dial(ctx, r.temporal.addr(), "default", r.log, nil, stack.WithCodecKeys(ring)); err != nil {
		return nil, err
	}
	r.cleanups.Add(r.c.Close)

	// The API replicas' ports first: the sandbox sends its webhooks to them.
	var apiPorts []int
	for range 2 {
		p, err := localrun.FreePort()
		if err != nil {
			return nil, err
		}
		apiPorts = append(apiPorts, p)
	}
	sbURL, err := r.startSandbox(apiPorts)
	if err != nil {
		return nil, err
	}
	blobDir := filepath.Join(dir, "blobs")
	token := randomSecret(16)
	ac := apiConfig{temporal: r.temporal.addr(), sandboxURL: sbURL, sharedDB: dbs.shared, blobDir: blobDir,
		codecKeys: codec.FormatKeys(key), token: token, portalSecret: randomSecret(32)}
	for i, p := range apiPorts {
		a := newAPI(i+1, oldBin, p, ac, cfg.Logs)
		if err := a.start(ctx); err != nil {
			return nil, err
		}
		r.apis = append(r.apis, a)
		r.cleanups.Add(func() { _ = a.proc.Stop(10 * time.Second) })
		r.printf("API replica %d: process %d on %s", i+1, a.proc.PID(), a.url())
	}
	for i := range 3 {
		mport, err := localrun.FreePort()
		if err != nil {
			return nil, err
		}
		wc := workerproc.Config{
			Command: []string{oldBin}, Frontend: r.temporal.addr(), Namespace: "default",
			SandboxURL: sbURL, BlobDir: blobDir, CodecKeys: codec.FormatKeys(key), InbankAPIKey: sandbox.DefaultInbankAPIKey,
			MetricsListen: net.JoinHostPort("127.0.0.1", fmt.Sprint(mport)), Stderr: cfg.Logs,
		}
		w, err := workerproc.Start(ctx, r.c, wc)
		if err != nil {
			return nil, fmt.Errorf("worker %d: %w", i+1, err)
		}
		r.wcfg, r.workers = append(r.wcfg, wc), append(r.workers, w)
		r.printf("worker %d: process %d", i+1, w.PID())
	}
	r.cleanups.Add(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, w := range r.workers {
			_ = w.Stop(10 * time.Second)
		}
	})
	return &chaos.Parts{Client: r.c, SandboxURL: sbURL, APIURL: r.apis[0].url(), OperatorToken: token}, nil
}

// startSandbox serves the sandbox in this process, its webhooks spread over the API replicas.
func (r *run) startSandbox(apiPorts []int) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	sbURL := "http://" + ln.Addr().String()
	var partners []string
	for _, p := range apiPorts {
		partners = append(partners, fmt.Sprintf("http://127.0.0.1:%d", p))
	}
	sb, err := sandbox.New(sandbox.Config{
		PartnerURL: partners[0], PartnerURLs: partners, PublicURL: sbURL, Seed: r.cfg.Seed, Logger: r.log,
		// ICE tries a webhook 3 times 20 s apart; 2 s keeps the drill short (as chaos does).
		WebhookRetryInterval: 2 * time.Second,
	})
	if err != nil {
		ln.Close()
		return "", err
	}
	srv, err := httpserver.Serve(ln, sb.Handler(), httpserver.Limits{}, r.log)
	if err != nil {
		sb.Close()
		return "", err
	}
	r.cleanups.Add(func() { _ = srv.Stop(5 * time.Second); _ = sb.Close() })
	r.printf("sandbox (in the drill's process) on %s, webhooks spread over %v", sbURL, partners)
	return sbURL, nil
}

// sandboxLender reads the sandbox's records of a transaction.
type sandboxLender struct{ url string }

// upgradeEvents counts the transaction's progress events posted by the upgraded build.
func (l sandboxLender) upgradeEvents(ctx context.Context, id string) (int, error) {
	var rec struct {
		Events []epc.Event `json:"events"`
	}
	if err := getJSON(ctx, l.url+"/sandbox/epc/transactions/"+id, &rec); err != nil {
		return 0, err
	}
	n := 0
	for _, e := range rec.Events {
		if e.Type == vocab.Default().Get(vocab.EventProgress) && e.Text == workflows.DrillUpgradeText {
			n++
		}
	}
	return n, nil
}

// checkPaths reads each order's record: the first half (placed before the upgrade) must show
// no upgrade event, the rest exactly one; a second one is a duplicated effect.
func (r *run) checkPaths(ctx context.Context, l sandboxLender, ids []string, half int) error {
	rep := r.res.Report
	for i, id := range ids {
		n, err := l.upgradeEvents(ctx, id)
		if err != nil {
			return fmt.Errorf("read transaction %s: %w", id, err)
		}
		want, side := 1, "after"
		if i < half {
			want, side = 0, "before"
		}
		switch {
		case n == 0:
			r.res.OldPath++
		case n == 1:
			r.res.NewPath++
		default:
			rep.DuplicatedEffects += n - 1
		}
		if n != want {
			rep.Deviations = append(rep.Deviations, fmt.Sprintf("order %d (%s), placed %s the upgrade: %d upgrade events, want %d", i+1, id, side, n, want))
		}
	}
	return nil
}

func getJSON(ctx context.Context, url string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := newGet(ctx, url)
	if err != nil {
		return err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
