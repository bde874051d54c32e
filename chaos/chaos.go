// Package chaos proves that no order is lost or done twice when everything around epcflow
// fails: it runs the real parts (Temporal on a SQLite file, the sandbox, the API, and workers
// as child processes), places orders of both products while the sandbox answers 5xx and 429,
// adds latency and an outage, delivers every webhook three times out of order, SIGKILLs a
// worker in the middle of its activities and restarts the Temporal server. Then it reads the
// sandbox's records of every order and counts what went missing or happened twice.
//
// `go test ./chaos/` runs it at a CI size; `epcflow chaos` (or `go test ./chaos/
// -chaos.orders=200`) at full size. A variant (Config.LostWebhooks, `epcflow chaos
// --lost-webhooks`) withholds every webhook after an order's first ones.
package chaos

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/epcflow/epcflow/codec"
	"github.com/epcflow/epcflow/demo"
	"github.com/epcflow/epcflow/devserver"
	"github.com/epcflow/epcflow/internal/localrun"
	"github.com/epcflow/epcflow/sandbox"
	"github.com/epcflow/epcflow/stack"
	"github.com/epcflow/epcflow/workerproc"
	"github.com/epcflow/epcflow/workflows"
)

// Config sizes and tunes one run. The zero value (with WorkerCommand) is the full run the
// README describes.
type Config struct {
	// Orders to place (default 200), every other one an Appraisal, the rest FloodCertifications.
	Orders int
	// Rate of placing orders per second (default 10).
	Rate float64
	// Packages are ICE Delivery Room packages the POS Framework sends alongside, each
	// packageSends times, and their recipients open through the portal (default Orders/8;
	// negative: none).
	Packages int
	// Payments are Inbank payment sessions a shop creates (with an Idempotency-Key) and its
	// customer pays, alongside (default Orders/8; negative: none).
	Payments int
	// ErrorRate of 5xx answers on every partner route (default 0.3); RateLimited of 429 with
	// Retry-After 1s (default 0.05); LostReplies of 5xx sent after the platform did the work,
	// so the partner never hears it succeeded (default 0.05). Negative turns one off.
	ErrorRate, RateLimited, LostReplies float64
	// Latency added to every partner call (default 20ms).
	Latency time.Duration
	// Outage is how long every partner route answers 503 once (default 10s; negative: none).
	Outage time.Duration
	// WebhookCopies delivers every webhook this many times, shuffled (default 3).
	WebhookCopies int
	// LostWebhooks runs the lost-webhook variant (lostwebhooks.go): the sandbox delivers
	// only each order's creation webhooks; the lender cancels every fourth order and supplies
	// the missing input of every fourth; the workers' recheck must end each right.
	LostWebhooks bool
	// RecheckInterval is the workers' --recheck-interval (default: theirs, 6h; in the
	// lost-webhook variant DefaultLostWebhooksRecheck).
	RecheckInterval time.Duration
	// Workers is how many worker processes run (default 2; the first is the one killed).
	Workers int
	// Kills is how many times the first worker is SIGKILLed and restarted (default 2;
	// negative: none).
	Kills int
	// ServerDowntime is how long the Temporal server stays down when it is restarted, once
	// (default 3s; negative: no restart).
	ServerDowntime time.Duration
	// WorkerCommand is the argv prefix running the epcflow binary; WorkerEnv is added to the
	// workers' environment.
	WorkerCommand, WorkerEnv []string
	// DataDir holds the Temporal database, blobs and the sandbox's state (default: a
	// temporary directory, removed afterwards).
	DataDir string
	// Timeout bounds the whole run (default 10 min).
	Timeout time.Duration
	// Seed makes the injected faults and the webhook shuffling repeatable (default 1).
	Seed int64
	// Progress receives one line per phase (nil: discarded).
	Progress io.Writer
	// Logger receives the in-process parts' logs; WorkerStderr the workers' (nil: discarded).
	Logger       *slog.Logger
	WorkerStderr io.Writer

	// Parts, when set, are parts the caller runs (the drill: each its own process): Run then
	// starts no stack and no worker, and Workers, Kills, ServerDowntime, WorkerCommand,
	// WorkerEnv and DataDir are not used; the caller's Steps kill and restart its parts.
	Parts *Parts
	// Steps are the caller's acts of chaos, done alongside the run's own.
	Steps []Step
	// Halfway, when set, is called once half the orders are placed, with their transaction
	// ids, while the placing of orders waits for it (the drill's rolling upgrade).
	Halfway func(ctx context.Context, placed []string) error
}

// Parts locates parts of the production layout run by the caller.
type Parts struct {
	// Client reaches Temporal with the workers' payload keys.
	Client client.Client
	// SandboxURL is the sandbox (the platforms and the lender); APIURL the epcflow API the
	// operator, the shop and the portal's users reach, with OperatorToken.
	SandboxURL, APIURL, OperatorToken string
}

// Step is one act of chaos, done once the share At of the orders has finished.
type Step struct {
	At   float64
	Name string
	Do   func(ctx context.Context) error
}

func (c Config) withDefaults() (Config, error) {
	c.Orders = cmp.Or(c.Orders, 200)
	c.Rate = cmp.Or(c.Rate, 10)
	switch {
	case c.Packages == 0:
		c.Packages = max(1, c.Orders/8)
	case c.Packages < 0:
		c.Packages = 0
	}
	switch {
	case c.Payments == 0:
		c.Payments = max(1, c.Orders/8)
	case c.Payments < 0:
		c.Payments = 0
	}
	for _, f := range []struct {
		v   *float64
		def float64
	}{{&c.ErrorRate, 0.3}, {&c.RateLimited, 0.05}, {&c.LostReplies, 0.05}} {
		switch {
		case *f.v == 0:
			*f.v = f.def
		case *f.v < 0:
			*f.v = 0
		}
	}
	c.Latency = cmp.Or(c.Latency, 20*time.Millisecond)
	c.Outage = cmp.Or(c.Outage, 10*time.Second)
	c.WebhookCopies = cmp.Or(c.WebhookCopies, 3)
	c.Workers = cmp.Or(c.Workers, 2)
	if c.Parts != nil { // the caller's parts: nothing of them is killed here
		c.Workers, c.Kills, c.ServerDowntime, c.WorkerCommand = 2, -1, -1, []string{"(the caller's)"}
	}
	switch {
	case c.Kills == 0:
		c.Kills = 2
	case c.Kills < 0:
		c.Kills = 0
	}
	if c.RecheckInterval == 0 && c.LostWebhooks {
		c.RecheckInterval = DefaultLostWebhooksRecheck
	}
	c.ServerDowntime = cmp.Or(c.ServerDowntime, 3*time.Second)
	c.Timeout = cmp.Or(c.Timeout, 10*time.Minute)
	c.Seed = cmp.Or(c.Seed, 1)
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	var errs []error
	if c.Orders < 0 {
		errs = append(errs, fmt.Errorf("orders %d: must be positive", c.Orders))
	}
	if c.Rate < 0 {
		errs = append(errs, fmt.Errorf("rate %g: must be positive", c.Rate))
	}
	if c.ErrorRate+c.RateLimited+c.LostReplies >= 1 {
		errs = append(errs, fmt.Errorf("error rates %g + %g + %g: must add up to less than 1", c.ErrorRate, c.RateLimited, c.LostReplies))
	}
	if c.Workers < 2 {
		errs = append(errs, fmt.Errorf("workers %d: at least 2 (one keeps going while the other is killed)", c.Workers))
	}
	if c.RecheckInterval < 0 {
		errs = append(errs, fmt.Errorf("recheck interval %s: must be positive", c.RecheckInterval))
	}
	if c.WebhookCopies < 1 || c.WebhookCopies > 100 {
		errs = append(errs, fmt.Errorf("webhook copies %d: between 1 and 100", c.WebhookCopies))
	}
	if len(c.WorkerCommand) == 0 {
		errs = append(errs, errors.New("no worker command (the epcflow binary to run workers with)"))
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("chaos: %w", err)
	}
	return c, nil
}

// Run performs one chaos run and returns what it found. An error means the run itself could
// not be carried out; deviations in the engine's behaviour are in the Report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	r := &runner{cfg: cfg, started: time.Now(), log: &eventLog{w: cfg.Progress}}
	r.log.start = r.started
	return localrun.Do(ctx, &r.cleanups, r.start, r.run)
}

// runner is one run's parts.
type runner struct {
	cfg      Config
	st       *stack.Stack
	lender   *demo.Lender
	operator *demo.Operator
	workers  []*workerproc.Process
	wcfg     []workerproc.Config
	// Where the parts are: the stack's, or Config.Parts.
	client             client.Client
	sandboxURL, apiURL string
	started            time.Time
	log                *eventLog
	stats              struct{ kills, killsMidActivity, outages, restarts int }
	cleanups           localrun.Cleanups
}

// start sets the run's parts up, each undone through r.cleanups (localrun.Do).
func (r *runner) start(ctx context.Context) (err error) {
	cfg := r.cfg
	if p := cfg.Parts; p != nil {
		r.client, r.sandboxURL, r.apiURL = p.Client, p.SandboxURL, p.APIURL
		r.lender, r.operator = demo.NewLender(p.SandboxURL), demo.NewOperator(p.APIURL, p.OperatorToken)
		return nil
	}
	dataDir := cfg.DataDir
	if dataDir == "" {
		if dataDir, err = os.MkdirTemp("", "epcflow-chaos-"); err != nil {
			return fmt.Errorf("chaos: %w", err)
		}
		r.cleanups.Add(func() { _ = os.RemoveAll(dataDir) })
	}
	key, err := codec.GenerateKey("chaos")
	if err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	ring, err := codec.NewKeyring(key)
	if err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	token, err := randomToken()
	if err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	// A fixed frontend port: the workers must find the server again after its restart.
	port, err := localrun.FreePort()
	if err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	r.st, err = stack.Start(ctx, stack.Config{
		DataDir: dataDir, DBPath: filepath.Join(dataDir, "temporal.db"), TemporalPort: port, UIPort: devserver.NoUI,
		NoWorker: true, OperatorToken: token, CodecKeys: ring, Logger: cfg.Logger,
		// ICE's platform tries a webhook 3 times 20 s apart; 2 s keeps the run short while a
		// server restart still spans more than one try.
		Sandbox: sandbox.Config{WebhookRetryInterval: 2 * time.Second, Seed: cfg.Seed},
	})
	if err != nil {
		return fmt.Errorf("chaos: %w", err)
	}
	r.cleanups.Add(func() { _ = r.st.Close() })
	r.client, r.sandboxURL, r.apiURL = r.st.Client, r.st.SandboxURL, r.st.APIURL
	r.lender = demo.NewLender(r.st.SandboxURL)
	r.operator = demo.NewOperator(r.st.APIURL, token)
	r.log.printf("stack up: Temporal %s (SQLite file), API %s, sandbox %s", r.st.Server.FrontendAddress(), r.st.APIURL, r.st.SandboxURL)

	for i := range cfg.Workers {
		mport, err := localrun.FreePort()
		if err != nil {
			return fmt.Errorf("chaos: %w", err)
		}
		r.wcfg = append(r.wcfg, workerproc.Config{
			Command: cfg.WorkerCommand, Env: cfg.WorkerEnv,
			Frontend: r.st.Server.FrontendAddress(), Namespace: r.st.Server.Namespace(),
			SandboxURL: r.st.SandboxURL, BlobDir: filepath.Join(dataDir, "blobs"), CodecKeys: codec.FormatKeys(key),
			MetricsListen: "127.0.0.1:" + strconv.Itoa(mport), Stderr: cfg.WorkerStderr, RecheckInterval: cfg.RecheckInterval,
			InbankAPIKey: sandbox.DefaultInbankAPIKey,
		})
		w, err := workerproc.Start(ctx, r.client, r.wcfg[i])
		if err != nil {
			return fmt.Errorf("chaos: worker %d: %w", i+1, err)
		}
		r.workers = append(r.workers, w)
		r.log.printf("worker %d running as process %d", i+1, w.PID())
	}
	r.cleanups.Add(func() {
		for _, w := range r.workers {
			_ = w.Stop(10 * time.Second)
		}
	})
	return nil
}

// eventLog timestamps the run's phases for the progress output and the report.
type eventLog struct {
	mu     sync.Mutex
	w      io.Writer
	start  time.Time
	events []string
}

func (l *eventLog) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	line := fmt.Sprintf("%6.1fs  %s", time.Since(l.start).Seconds(), fmt.Sprintf(format, args...))
	l.events = append(l.events, line)
	fmt.Fprintln(l.w, "chaos: "+line)
}

func (l *eventLog) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.events...)
}

func randomToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// orderType is the product of the i-th order: Appraisals and FloodCertifications alternate.
func orderType(i int) string {
	if i%2 == 0 {
		return workflows.TypeAppraisal
	}
	return workflows.TypeFloodCertification
}
