package core

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Runtime is what the emulators share: one mux, the clock and the logger, webhook delivery,
// background jobs, the sandbox's public URL and the count of state changes. Emulators register
// their routes on it; Close stops everything it started.
type Runtime struct {
	// Log receives the sandbox's log lines.
	Log *slog.Logger

	clock  func() time.Time
	mux    *http.ServeMux
	routes map[string]RouteKind // registered patterns, for fault rules
	faults *faultInjector
	hooks  *Deliverer
	work   *tracker // async work (webhooks, processing) not yet finished

	publicURL atomic.Pointer[string]

	ctx    context.Context // canceled by Close; every background job runs under it
	cancel context.CancelFunc
	bgMu   sync.Mutex     // orders Go's Add before Close's Wait
	closed bool           // guarded by bgMu
	bg     sync.WaitGroup // background goroutines other than the deliverer's

	// changes counts state changes (bumped after each one, see Touch).
	changes atomic.Uint64
}

// Options configures a Runtime.
type Options struct {
	Logger *slog.Logger     // nil discards
	Clock  func() time.Time // nil means time.Now
	// Seed seeds fault injection and webhook shuffling when a fault config names no seed.
	Seed     int64
	Webhooks WebhookConfig
}

// NewRuntime builds a Runtime and starts its webhook workers; Close stops them.
func NewRuntime(o Options) *Runtime {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	rt := &Runtime{
		Log:    o.Logger,
		clock:  o.Clock,
		mux:    http.NewServeMux(),
		routes: map[string]RouteKind{},
		faults: newFaultInjector(o.Seed, o.Clock),
		work:   newTracker(),
		ctx:    ctx,
		cancel: cancel,
	}
	rt.hooks = newDeliverer(ctx, o.Webhooks, o.Seed, o.Clock, o.Logger, rt.work)
	return rt
}

// Now is the sandbox's clock.
func (rt *Runtime) Now() time.Time { return rt.clock() }

// Handler serves every route registered.
func (rt *Runtime) Handler() http.Handler { return rt.mux }

// Hooks is the webhook deliverer.
func (rt *Runtime) Hooks() *Deliverer { return rt.hooks }

// Context ends when the runtime closes.
func (rt *Runtime) Context() context.Context { return rt.ctx }

// Touch records that the state changed; call it after the change is made, so a save that
// misses the change sees the count move and saves again.
func (rt *Runtime) Touch() { rt.changes.Add(1) }

// Changes is the number of state changes so far.
func (rt *Runtime) Changes() uint64 { return rt.changes.Load() }

// SetPublicURL sets the sandbox's own base URL. Safe to call while serving; links already
// handed out keep the old base.
func (rt *Runtime) SetPublicURL(u string) {
	u = strings.TrimRight(u, "/")
	rt.publicURL.Store(&u)
}

// PublicURL returns the base URL the sandbox puts in links ("" until known).
func (rt *Runtime) PublicURL() string {
	if p := rt.publicURL.Load(); p != nil {
		return *p
	}
	return ""
}

// BaseURL is the public base URL for links made while serving r: the public URL if set, else
// the request's own scheme and Host.
func (rt *Runtime) BaseURL(r *http.Request) string {
	if p := rt.PublicURL(); p != "" {
		return p
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// WaitIdle blocks until no webhook is queued, in flight or waiting for a retry, and no
// background job runs; or until ctx ends.
func (rt *Runtime) WaitIdle(ctx context.Context) error { return rt.work.wait(ctx) }

// Go runs f in the background under the runtime's context, counted as work WaitIdle waits
// for; false (f not run) once the runtime is closed.
func (rt *Runtime) Go(f func(ctx context.Context)) bool {
	rt.bgMu.Lock()
	defer rt.bgMu.Unlock()
	if rt.closed {
		return false
	}
	rt.work.add()
	rt.bg.Add(1)
	go func() {
		defer rt.bg.Done()
		defer rt.work.done()
		f(rt.ctx)
	}()
	return true
}

// Close stops webhook delivery and background jobs and waits for them to return. The
// handler keeps answering, but no webhook leaves any more.
func (rt *Runtime) Close() {
	rt.bgMu.Lock()
	rt.closed = true
	rt.bgMu.Unlock()
	rt.cancel()
	rt.hooks.close()
	rt.bg.Wait()
}

// tracker counts unfinished asynchronous work and lets callers wait for none.
type tracker struct {
	mu      sync.Mutex
	pending int
	idle    chan struct{} // closed while pending == 0
}

func newTracker() *tracker {
	t := &tracker{idle: make(chan struct{})}
	close(t.idle)
	return t
}

func (t *tracker) add() {
	t.mu.Lock()
	if t.pending == 0 {
		t.idle = make(chan struct{})
	}
	t.pending++
	t.mu.Unlock()
}

func (t *tracker) done() {
	t.mu.Lock()
	t.pending--
	if t.pending == 0 {
		close(t.idle)
	}
	t.mu.Unlock()
}

func (t *tracker) wait(ctx context.Context) error {
	t.mu.Lock()
	idle := t.idle
	t.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
