// Package api is epcflow's HTTP surface (Gin), one file (and its prefix) per flow: the EPC
// transaction's webhooks and operator endpoints (transaction*.go), the Delivery Room's
// package events and portal (delivery.go, portal.go), Inbank payment sessions and callbacks
// (payment.go); health and metrics here. It never talks to EPC, the POS Framework or Inbank
// about a flow's work: webhooks, callbacks and actions go to the workflows through the
// starter package. Every error answer is one ErrorBody (errors.go).
//
// Status codes are part of the contract with the platforms, which drop for good a webhook
// answered 4xx and retry 5xx: 401 only for a bad signature, 400 only for a body that can
// never be processed, 503 (with Retry-After) when the engine cannot take it now.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/trace"

	"github.com/epcflow/epcflow/blobs"
	"github.com/epcflow/epcflow/dedup"
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/metrics"
	"github.com/epcflow/epcflow/vocab"
)

// Config configures the API. Engine, Verifier and Blobs are required.
type Config struct {
	Engine   Engine
	Verifier *epc.Verifier
	// Vocabulary names the headers a webhook's signature is read from (the zero value:
	// vocab.Default()).
	Vocabulary vocab.Vocabulary
	Blobs      blobs.Store
	// Logger receives the access log and the handlers' lines; nil means slog.Default().
	Logger *slog.Logger
	// Metrics serves GET /metrics and records HTTP metrics; nil means a registry of its own.
	Metrics *metrics.Registry
	// Ready reports whether Temporal is reachable (pass client.CheckHealth); nil means
	// always ready.
	Ready func(ctx context.Context) error
	// OperatorToken, when set, is required as "Authorization: Bearer <token>" on every
	// endpoint under /v1. Empty leaves them open (development only; New logs a warning).
	OperatorToken string
	// Dedup is the record of delivered webhooks every API replica shares (*dedup.Store): a
	// copy of a delivered webhook is answered without reaching its workflow. Nil: every copy
	// is signalled and the workflow drops it (New logs a warning).
	Dedup dedup.Backend
	// MaxWebhookBytes bounds a webhook body (default 1 MiB; larger gets 413).
	MaxWebhookBytes int64
	// MaxReportBytes bounds a delivered report PDF (default 50 MiB; larger gets 413).
	MaxReportBytes int64
	// UploadTimeout is how long a delivery's body may take to arrive (default 10 min), in
	// place of the server's read timeout (httpserver.Limits.ReadTimeout, 30 s), which every
	// other route keeps: a 50 MB report over a slow uplink takes minutes, a webhook does not.
	// It is granted once the operator token has been checked.
	UploadTimeout time.Duration
	// WebhookTimeout is the budget for handing a webhook to its workflow (default 5 s, well
	// under the platform's 30 s): past it the answer is 503 and the platform retries.
	WebhookTimeout time.Duration
	// OperatorTimeout is the budget for reads and operator actions (default 30 s); past it
	// the answer is 504 and the action may still complete.
	OperatorTimeout time.Duration
	// Codec, when set, is the payload codec server (codec.Handler) served under /codec for
	// the Temporal UI and CLI. It does its own authentication and CORS: the UI cannot send
	// the operator token.
	Codec http.Handler
	// Delivery, when set, serves the delivery flow's routes (package events, the portal).
	Delivery *Delivery
	// Payments, when set, serves the payment flow's routes (payment sessions, Inbank
	// callbacks).
	Payments *Payments
	// Console, when set, serves the operator console under /console/ (console.go).
	Console *Console
	// Tracer, when set, makes every request but the probes a server span (tracing.go).
	Tracer trace.TracerProvider
}

// Defaults applied by New to zero Config fields.
const (
	DefaultMaxWebhookBytes = epc.DefaultMaxWebhookBody
	DefaultMaxReportBytes  = 50 << 20
	DefaultUploadTimeout   = 10 * time.Minute
	DefaultWebhookTimeout  = 5 * time.Second
	DefaultOperatorTimeout = 30 * time.Second
	readyTimeout           = 2 * time.Second
)

type server struct {
	cfg         Config
	log         *slog.Logger
	dedup       *dedup.Guard
	webhooks    *webhookMetrics
	crossOrigin *http.CrossOriginProtection
}

// New builds the HTTP handler: every flow's routes (transaction.go, delivery.go,
// payment.go), and
//
//	POST /codec/encode, /codec/decode     payload codec server, when Config.Codec is set
//	GET  /healthz, /readyz, /metrics
func New(cfg Config) (http.Handler, error) {
	switch {
	case cfg.Engine == nil:
		return nil, errors.New("api: Config.Engine is required")
	case cfg.Verifier == nil:
		return nil, errors.New("api: Config.Verifier is required")
	case cfg.Blobs == nil:
		return nil, errors.New("api: Config.Blobs is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New()
	}
	if cfg.MaxWebhookBytes <= 0 {
		cfg.MaxWebhookBytes = DefaultMaxWebhookBytes
	}
	if cfg.MaxReportBytes <= 0 {
		cfg.MaxReportBytes = DefaultMaxReportBytes
	}
	if cfg.UploadTimeout <= 0 {
		cfg.UploadTimeout = DefaultUploadTimeout
	}
	if cfg.WebhookTimeout <= 0 {
		cfg.WebhookTimeout = DefaultWebhookTimeout
	}
	if cfg.OperatorTimeout <= 0 {
		cfg.OperatorTimeout = DefaultOperatorTimeout
	}
	if cfg.OperatorToken == "" {
		cfg.Logger.Warn("api: no operator token configured: the /v1 endpoints are open to anyone who can reach the API (development only)")
	}
	s := &server{cfg: cfg, log: cfg.Logger, crossOrigin: http.NewCrossOriginProtection()}
	var err error
	if s.webhooks, err = newWebhookMetrics(cfg.Metrics.Prometheus()); err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	if cfg.Dedup == nil {
		cfg.Logger.Warn("api: no webhook dedup store: every copy of a webhook reaches its workflow's history")
	}
	s.dedup = s.newDedup(cfg.Dedup)

	// Release mode only silences gin's debug printing (process-wide, as gin keeps it).
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	// We log no client address and sit behind whatever proxy: trust no forwarding header.
	if err := r.SetTrustedProxies(nil); err != nil {
		return nil, err
	}
	// Outermost first: the request id is known to everything below; the access log and the
	// metrics see the 500 written by recovery.
	if cfg.Tracer != nil {
		r.Use(serverSpans(cfg.Tracer)) // first: the request's logger and access log carry its trace
	}
	r.Use(s.requestID, s.accessLog, cfg.Metrics.GinMiddleware(), s.recovery)
	r.NoRoute(func(c *gin.Context) {
		abort(c, http.StatusNotFound, CodeNotFound, "no such endpoint: "+c.Request.Method+" "+truncate(c.Request.URL.Path, 200))
	})
	r.NoMethod(func(c *gin.Context) {
		abort(c, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method "+c.Request.Method+" not allowed here")
	})

	s.mountTransaction(r)

	if cfg.Codec != nil {
		// Outside the /v1 group: the codec server has its own token, origin and CORS checks.
		r.Any("/codec/*op", gin.WrapH(cfg.Codec))
	}

	if cfg.Delivery != nil {
		if err := mountDelivery(r, *cfg.Delivery); err != nil {
			return nil, err
		}
	}
	if cfg.Payments != nil {
		if err := mountPayments(r, r.Group("", s.sameOrigin, s.operatorAuth), *cfg.Payments); err != nil {
			return nil, err
		}
	}

	if cfg.Console != nil {
		if err := s.mountConsole(r, *cfg.Console); err != nil {
			return nil, err
		}
	}

	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", s.ready)
	r.GET("/metrics", gin.WrapH(cfg.Metrics.Handler()))
	return r, nil
}

func (s *server) ready(c *gin.Context) {
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(c.Request.Context(), readyTimeout)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			abort(c, http.StatusServiceUnavailable, CodeUnavailable, "temporal not reachable: "+err.Error())
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

// truncate bounds an untrusted value for a message or a log line: at most n bytes, cut at a
// character boundary, the rest replaced by "…".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
