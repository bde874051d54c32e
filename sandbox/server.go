// Package sandbox is a stateful emulator of the platforms epcflow talks to, served over real
// HTTP so that everything runs and is tested on one machine. Today it plays Encompass Partner
// Connect (EPC) and the lender behind it; see EPC. Later emulators (POS Framework, Inbank) are
// mounted on the same Server.
//
// The sandbox is strict on purpose: it enforces the documented life-cycle, validates every body
// against the schemas and answers precise errors, so that a partner that works against it has
// few surprises against the real platform.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults applied by New.
const (
	DefaultPartnerURL           = "http://127.0.0.1:8080"
	DefaultClientID             = "sandbox-client"
	DefaultClientSecret         = "sandbox-secret"
	DefaultSigningKey           = "sandbox-signing-key"
	DefaultTokenLifetime        = 2 * time.Hour
	DefaultWebhookRetryInterval = 20 * time.Second
	DefaultWebhookTries         = 3
	DefaultWebhookTimeout       = 30 * time.Second
	DefaultWebhookWorkers       = 8
	DefaultStateSaveInterval    = 2 * time.Second
)

// Config configures a Server. The zero value is usable: New fills in the defaults above.
type Config struct {
	// PartnerURL is the partner's base URL; EPC webhooks are posted to {PartnerURL}/webhooks/epc.
	PartnerURL string
	// ClientID and ClientSecret are the only credentials the token endpoint accepts.
	ClientID     string
	ClientSecret string
	// SigningKey signs webhooks of every product that has no key of its own.
	SigningKey string
	// TokenLifetime is how long an access token is accepted (use does not extend it).
	TokenLifetime time.Duration
	// WebhookRetryInterval separates tries of one webhook; WebhookTries counts every try,
	// the first included; WebhookTimeout bounds one try.
	WebhookRetryInterval time.Duration
	WebhookTries         int
	WebhookTimeout       time.Duration
	// WebhookWorkers bounds how many webhook tries run at once.
	WebhookWorkers int
	// PublicURL is the sandbox's own base URL, used in upload locations, attachment URLs and
	// webhook resourceRefs. Empty means the Host of the request being served; it can also be
	// set later with SetPublicURL, once the caller knows its listen address.
	PublicURL string
	// HTTPClient posts webhooks; nil means a client of the sandbox's own.
	HTTPClient *http.Client
	// Logger receives the sandbox's log lines; nil discards them.
	Logger *slog.Logger
	// Clock is the sandbox's notion of now (timestamps, token expiry, outage windows); tests
	// replace it to move time. Nil means time.Now.
	Clock func() time.Time
	// Seed seeds fault injection and webhook shuffling when a fault config names no seed.
	Seed int64
	// POSSubscriptionID, POSSigningKeyID and POSSigningSecret are the POS Framework's signing
	// settings ([ours]: one secret, both directions); see pos.go for their defaults.
	POSSubscriptionID string
	POSSigningKeyID   string
	POSSigningSecret  string
	// InbankShops are the shops the Inbank e-POS emulator knows, by shop UUID, each with the
	// API key that may use it; nil means DefaultInbankShopUUID with DefaultInbankAPIKey. See
	// inbank.go.
	InbankShops map[string]InbankShop
	// StateFile, when set, makes the sandbox's state survive a restart: New loads it from this
	// file if it exists, and the sandbox saves it there on Close and, while running, every
	// StateSaveInterval when something changed, so a crash loses at most that much. The bytes
	// of uploaded and attached files go to the directory StateFile+".media". Fault rules and
	// webhook behavior are not saved: they reset at every start. Empty keeps everything in
	// memory. See persist.go.
	StateFile string
	// StateSaveInterval is how often a changed state is saved to StateFile.
	StateSaveInterval time.Duration
}

func (c Config) withDefaults() (Config, error) {
	if c.PartnerURL == "" {
		c.PartnerURL = DefaultPartnerURL
	}
	if c.ClientID == "" {
		c.ClientID = DefaultClientID
	}
	if c.ClientSecret == "" {
		c.ClientSecret = DefaultClientSecret
	}
	if c.SigningKey == "" {
		c.SigningKey = DefaultSigningKey
	}
	if c.TokenLifetime == 0 {
		c.TokenLifetime = DefaultTokenLifetime
	}
	if c.WebhookRetryInterval == 0 {
		c.WebhookRetryInterval = DefaultWebhookRetryInterval
	}
	if c.WebhookTries == 0 {
		c.WebhookTries = DefaultWebhookTries
	}
	if c.WebhookTimeout == 0 {
		c.WebhookTimeout = DefaultWebhookTimeout
	}
	if c.WebhookWorkers == 0 {
		c.WebhookWorkers = DefaultWebhookWorkers
	}
	if c.StateSaveInterval == 0 {
		c.StateSaveInterval = DefaultStateSaveInterval
	}
	c.posDefaults()
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	var problems []string
	if err := checkBaseURL(c.PartnerURL); err != nil {
		problems = append(problems, "PartnerURL: "+err.Error())
	}
	if c.PublicURL != "" {
		if err := checkBaseURL(c.PublicURL); err != nil {
			problems = append(problems, "PublicURL: "+err.Error())
		}
	}
	if c.TokenLifetime < 0 {
		problems = append(problems, "TokenLifetime: must not be negative")
	}
	if c.WebhookRetryInterval < 0 {
		problems = append(problems, "WebhookRetryInterval: must not be negative")
	}
	if c.WebhookTries < 0 {
		problems = append(problems, "WebhookTries: must not be negative")
	}
	if c.WebhookTimeout < 0 {
		problems = append(problems, "WebhookTimeout: must not be negative")
	}
	if c.WebhookWorkers < 0 {
		problems = append(problems, "WebhookWorkers: must not be negative")
	}
	if c.StateSaveInterval < 0 {
		problems = append(problems, "StateSaveInterval: must not be negative")
	}
	problems = append(problems, c.inbankDefaults()...)
	if len(problems) > 0 {
		return c, fmt.Errorf("sandbox: invalid config: %s", strings.Join(problems, "; "))
	}
	c.PartnerURL = strings.TrimRight(c.PartnerURL, "/")
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	return c, nil
}

// checkBaseURL accepts an absolute http(s) URL; its errors never echo the value.
func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errors.New("not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("scheme must be http or https")
	case u.Host == "":
		return errors.New("host required")
	case u.RawQuery != "" || u.Fragment != "":
		return errors.New("must not contain a query or fragment")
	}
	return nil
}

// Server serves every emulator and the control API on one handler.
type Server struct {
	cfg Config
	log *slog.Logger
	now func() time.Time

	mux    *http.ServeMux
	routes map[string]routeKind // registered patterns, for fault rules

	publicURL atomic.Pointer[string]

	faults *faultInjector
	hooks  *deliverer
	work   *tracker // async work (webhooks, processing) not yet finished

	ctx    context.Context // canceled by Close; every background job runs under it
	cancel context.CancelFunc
	bgMu   sync.Mutex     // orders goBackground's Add before Close's Wait
	closed bool           // guarded by bgMu
	bg     sync.WaitGroup // background goroutines other than the deliverer's

	epc *EPC
	pos *posFramework
	// inbank is the Inbank e-POS emulator.
	inbank *Inbank

	// changes counts state changes (bumped after each one, see touch); state saves the state
	// to Config.StateFile, nil without one.
	changes atomic.Uint64
	state   *stateFile
}

// routeKind says which fault rules may touch a route.
type routeKind int

const (
	// routePlatform: a platform API route (Partner API, media); "*" rules apply.
	routePlatform routeKind = iota
	// routeExplicit: token and control routes; only rules that name them apply.
	routeExplicit
)

// New builds a Server from cfg. Call Close when done to stop webhook delivery.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:    cfg,
		log:    cfg.Logger,
		now:    cfg.Clock,
		mux:    http.NewServeMux(),
		routes: map[string]routeKind{},
		ctx:    ctx,
		cancel: cancel,
		work:   newTracker(),
	}
	if cfg.PublicURL != "" {
		s.SetPublicURL(cfg.PublicURL)
	}
	s.faults = newFaultInjector(cfg.Seed, cfg.Clock)
	s.hooks = newDeliverer(ctx, deliveryConfig{
		client:   cfg.HTTPClient,
		workers:  cfg.WebhookWorkers,
		tries:    cfg.WebhookTries,
		interval: cfg.WebhookRetryInterval,
		timeout:  cfg.WebhookTimeout,
		seed:     cfg.Seed,
		now:      cfg.Clock,
		log:      cfg.Logger,
		work:     s.work,
	})
	s.epc = newEPC(s)
	s.epc.mount()
	s.pos = newPOSFramework(s)
	s.pos.mount()
	s.inbank = s.mountInbank()
	s.mountControl()
	if cfg.StateFile != "" {
		if err := s.openState(); err != nil {
			// Not Close: it would save, over the file that failed to load.
			cancel()
			s.hooks.close()
			return nil, err
		}
	}
	return s, nil
}

// touch records that the state changed; call it after the change is made, so a save that
// misses the change sees the count move and saves again.
func (s *Server) touch() { s.changes.Add(1) }

// Handler returns the HTTP handler serving every route of the sandbox.
func (s *Server) Handler() http.Handler { return s.mux }

// EPC returns the EPC emulator, for callers that drive it in-process.
func (s *Server) EPC() *EPC { return s.epc }

// SetPublicURL sets the sandbox's own base URL (see Config.PublicURL). Safe to call while
// serving; links already handed out keep the old base.
func (s *Server) SetPublicURL(u string) {
	u = strings.TrimRight(u, "/")
	s.publicURL.Store(&u)
}

// baseURL is the public base URL for links made while serving r (r may be nil in background
// work, which always has a base captured from the request that caused it).
func (s *Server) baseURL(r *http.Request) string {
	if p := s.publicURL.Load(); p != nil && *p != "" {
		return *p
	}
	if r == nil {
		return ""
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// WaitIdle blocks until no webhook is queued, in flight or waiting for a retry, and no
// response is being processed; or until ctx ends. Tests and tools use it to settle.
func (s *Server) WaitIdle(ctx context.Context) error { return s.work.wait(ctx) }

// Close stops webhook delivery and background processing and waits for them to return, then
// saves the state to Config.StateFile if set (webhooks not yet delivered are saved as pending
// and sent again by the next New). The handler keeps answering (the caller owns the listener)
// but no webhook leaves any more, and later changes are not saved unless Close is called again.
func (s *Server) Close() error {
	s.bgMu.Lock()
	s.closed = true
	s.bgMu.Unlock()
	s.cancel()
	s.hooks.close()
	s.bg.Wait()
	if s.state != nil {
		return s.saveState(true)
	}
	return nil
}

// goBackground runs f under the server's context unless the server is closed.
func (s *Server) goBackground(f func(ctx context.Context)) bool {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.closed {
		return false
	}
	s.work.add()
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		defer s.work.done()
		f(s.ctx)
	}()
	return true
}

// handle registers pattern. Every route goes through fault injection, which lets a rule
// through only where it applies (see routeKind); observe, if set, sees every finished call,
// faulted ones included.
func (s *Server) handle(pattern string, kind routeKind, h http.Handler, observe func(*http.Request, *statusWriter)) {
	s.routes[pattern] = kind
	inner := s.faults.wrap(pattern, kind, h)
	s.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		inner.ServeHTTP(sw, r)
		if observe != nil {
			observe(r, sw)
		}
		if observe != nil || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			s.touch() // a call logged, or possibly a change made
		}
		if !s.log.Enabled(r.Context(), slog.LevelDebug) {
			return
		}
		// The path only: a query could carry a grant, headers carry tokens.
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "sandbox http",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", sw.status), slog.String("fault", sw.fault),
			slog.Duration("duration", time.Since(start)))
	}))
}

// statusWriter remembers the status written, and which fault (if any) answered.
type statusWriter struct {
	http.ResponseWriter
	status int
	fault  string
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Hijack and Flush.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

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

// ListenAndServe listens on addr and serves the sandbox there (see Serve).
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("sandbox: listen: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves the sandbox on ln until ctx ends, then shuts down gracefully and closes the
// server. If no public URL is set, it becomes http://{the listen address} (a wildcard host is
// replaced by 127.0.0.1).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.PublicURL() == "" {
		host, port, _ := net.SplitHostPort(ln.Addr().String())
		if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
			host = "127.0.0.1"
		}
		s.SetPublicURL("http://" + net.JoinHostPort(host, port))
	}
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		_ = s.Close()
		return fmt.Errorf("sandbox: serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := hs.Shutdown(shutdownCtx)
	_ = s.Close()
	if err != nil {
		return fmt.Errorf("sandbox: shutdown: %w", err)
	}
	return nil
}

// PublicURL returns the base URL the sandbox puts in links ("" until known).
func (s *Server) PublicURL() string {
	if p := s.publicURL.Load(); p != nil {
		return *p
	}
	return ""
}
