// Package stack assembles epcflow's parts in one process: the embedded Temporal server with
// its UI, the sandbox, the worker and the API. `epcflow dev` and the integration tests use it;
// the production commands use its builders one part at a time.
package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/epcflow/epcflow/accounts"
	"github.com/epcflow/epcflow/activities"
	"github.com/epcflow/epcflow/api"
	"github.com/epcflow/epcflow/blobs"
	"github.com/epcflow/epcflow/codec"
	"github.com/epcflow/epcflow/dedup"
	"github.com/epcflow/epcflow/devserver"
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/internal/httpserver"
	"github.com/epcflow/epcflow/internal/traced"
	"github.com/epcflow/epcflow/metrics"
	"github.com/epcflow/epcflow/portal"
	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/sandbox"
	"github.com/epcflow/epcflow/schemas"
	"github.com/epcflow/epcflow/starter"
	"github.com/epcflow/epcflow/vocab"
	"github.com/epcflow/epcflow/worker"
	"github.com/epcflow/epcflow/workflows"
)

// Config configures an in-process stack.
type Config struct {
	// DataDir holds the Temporal database (unless DBPath says otherwise) and the blob store.
	DataDir string
	// DBPath is the Temporal database: a SQLite file, devserver.MemoryDB, or a PostgreSQL URL
	// (see devserver.Config.DBPath); default DataDir/temporal.db. DataDir still holds the rest.
	DBPath string
	// TemporalPort and UIPort of the embedded server (0: free ports; UIPort devserver.NoUI: no UI).
	TemporalPort, UIPort int
	// APIListen and SandboxListen are host:port (port 0: a free port).
	APIListen, SandboxListen string
	// SandboxURL, when set, uses a sandbox that is already running instead of starting one.
	SandboxURL string
	// Sandbox tunes the sandbox this stack starts (PartnerURL and PublicURL are set here).
	Sandbox sandbox.Config
	// NoWorker leaves the worker out (tests that run their own).
	NoWorker bool
	// OperatorToken protects the operator endpoints when set.
	OperatorToken string
	// CodecKeys encrypt every Temporal payload and failure message (nil: payloads in clear).
	// The API then serves the codec at /codec and the UI is pointed at it.
	CodecKeys *codec.Keyring
	// CodecToken, when set, is required by /codec; empty trusts loopback and the UI's origin
	// (see codec.HandlerOptions).
	CodecToken string
	// Accounts checks request.credentials (default: the demo store).
	Accounts accounts.Store
	// Blobs stores files and upload notes (default: a directory store in DataDir/blobs).
	Blobs blobs.Store
	// PortalDSN is the portal users' database: a PostgreSQL DSN, or a SQLite path; default
	// DataDir/portal.db (in memory when DBPath is in memory; SQLite also when Temporal's
	// database is a PostgreSQL URL: it is not shared with Temporal).
	PortalDSN string
	// DedupDSN is the store of delivered webhooks (dedup.Open); default: the portal's
	// database (its own table). DedupMaxAge is how long a key is kept (default
	// dedup.DefaultMaxAge).
	DedupDSN    string
	DedupMaxAge time.Duration
	// RecheckInterval is how often the worker's orders re-read their transaction while they
	// wait (zero: workflows.DefaultRecheckInterval).
	RecheckInterval time.Duration
	// LocalStepBudget is the worker's workflows.Engine.LocalStepBudget (zero: the default).
	LocalStepBudget time.Duration
	// TemporalDynamicConfig overrides the embedded server's dynamic config (key → value).
	TemporalDynamicConfig map[string]any
	// PortalSecret derives the portal's invitation links (nil: a random one, in memory: links
	// of an earlier start then stop working; `dev` keeps one in its data directory).
	PortalSecret *portal.Secret
	// PackageExpiresAfter is how long Delivery Room package workflows track their recipients
	// (zero: the workflow's default, 30 days).
	PackageExpiresAfter time.Duration
	// HTTP bounds the API's and the sandbox's listeners (zero fields: httpserver's defaults).
	HTTP httpserver.Limits
	// MaxReportBytes and UploadTimeout bound a report delivery (zero: the api defaults).
	MaxReportBytes int64
	UploadTimeout  time.Duration
	// RecordLocation writes where the parts listen into DataDir/stack.json while the stack
	// runs (see ReadLocation), for `epcflow start` to find it; Close removes it.
	RecordLocation bool
	// TemporalLogLevel filters the embedded server's logs (default: warnings and errors).
	TemporalLogLevel slog.Leveler
	Logger           *slog.Logger
	// Tracer, when set, traces every part: the API's requests, the Temporal client and
	// worker, the EPC, POS and Inbank calls, and the sandbox's side of them (internal/traced).
	Tracer trace.TracerProvider
}

// Stack is a running set of parts. Close stops them in reverse order.
type Stack struct {
	Server     *devserver.Server
	Client     client.Client
	Starter    *starter.Starter
	Sandbox    *sandbox.Server
	Worker     sdkworker.Worker
	Blobs      blobs.Store
	Portal     *portal.Store
	Dedup      *dedup.Store
	Metrics    *metrics.Registry
	SandboxURL string
	APIURL     string

	serverCfg devserver.Config
	closers   []func() error
}

// Start brings the stack up. On error, whatever started is stopped again.
func Start(ctx context.Context, cfg Config) (st *Stack, err error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.DataDir == "" {
		cfg.DataDir = ".epcflow"
	}
	if cfg.DBPath == "" {
		cfg.DBPath = filepath.Join(cfg.DataDir, "temporal.db")
	}
	st = &Stack{Metrics: metrics.New()}
	started := st // a failed return sets st to nil before this runs
	defer func() {
		if err != nil {
			_ = started.Close()
		}
	}()

	apiLn, err := net.Listen("tcp", orDefault(cfg.APIListen, "127.0.0.1:0"))
	if err != nil {
		return nil, fmt.Errorf("api listen: %w", err)
	}
	st.APIURL = "http://" + apiLn.Addr().String()
	st.onClose(func() error { return ignoreClosed(apiLn.Close()) })

	st.SandboxURL = cfg.SandboxURL
	if st.SandboxURL == "" {
		sbLn, err := net.Listen("tcp", orDefault(cfg.SandboxListen, "127.0.0.1:0"))
		if err != nil {
			return nil, fmt.Errorf("sandbox listen: %w", err)
		}
		st.SandboxURL = "http://" + sbLn.Addr().String()
		sc := cfg.Sandbox
		sc.PartnerURL = st.APIURL
		sc.PublicURL = st.SandboxURL
		if sc.StateFile == "" && cfg.DBPath != devserver.MemoryDB {
			// The workflows outlive a restart in Temporal's database (a file or PostgreSQL):
			// the platform's side must too.
			sc.StateFile = filepath.Join(cfg.DataDir, "sandbox.json")
		}
		if sc.Logger == nil {
			sc.Logger = log.With("component", "sandbox")
		}
		sb, err := sandbox.New(sc)
		if err != nil {
			sbLn.Close()
			return nil, err
		}
		st.Sandbox = sb
		if err := st.serve(sbLn, traced.Handler(cfg.Tracer, sb.Handler(), "sandbox"), cfg.HTTP, log.With("component", "sandbox")); err != nil {
			return nil, err
		}
		st.onClose(func() error { sb.Close(); return nil })
	}

	// The API's address is known already, so the UI can be pointed at its codec endpoint.
	var codecEndpoint string
	if cfg.CodecKeys != nil {
		codecEndpoint = st.APIURL + "/codec"
	}
	st.serverCfg = devserver.Config{
		DBPath:           cfg.DBPath,
		FrontendPort:     cfg.TemporalPort,
		UIPort:           cfg.UIPort,
		UICodecEndpoint:  codecEndpoint,
		SearchAttributes: workflows.SearchAttributes(),
		Logger:           log.With("component", "temporal"),
		LogLevel:         cfg.TemporalLogLevel,
	}
	st.serverCfg.ExtraDynamicConfig = cfg.TemporalDynamicConfig
	st.Server, err = devserver.Start(ctx, st.serverCfg)
	if err != nil {
		return nil, fmt.Errorf("temporal dev server: %w", err)
	}
	// Through the field: RestartTemporal replaces the server.
	st.onClose(func() error { return st.Server.Stop() })

	tracing, err := traced.Interceptor(cfg.Tracer)
	if err != nil {
		return nil, err
	}
	st.Client, err = Dial(ctx, st.Server.FrontendAddress(), st.Server.Namespace(), log, st.Metrics, WithCodecKeys(cfg.CodecKeys), WithInterceptor(tracing))
	if err != nil {
		return nil, err
	}
	st.onClose(func() error { st.Client.Close(); return nil })
	st.Starter = starter.New(st.Client)

	if st.Blobs = cfg.Blobs; st.Blobs == nil {
		if st.Blobs, err = blobs.NewStore(filepath.Join(cfg.DataDir, "blobs")); err != nil {
			return nil, err
		}
	}
	// Files no workflow references (a delivery refused, a crash) go after blobs.DefaultGrace.
	sweepCtx, stopSweep := context.WithCancel(context.Background())
	st.onClose(func() error { stopSweep(); return nil })
	go func() { _ = blobs.Sweeper{Store: st.Blobs, Logger: log.With("component", "blobs")}.Run(sweepCtx) }()
	if !cfg.NoWorker {
		acts, err := NewActivities(ActivitiesConfig{
			EPCBaseURL: st.SandboxURL, EPCClientID: orDefault(cfg.Sandbox.ClientID, sandbox.DefaultClientID),
			EPCClientSecret: orDefault(cfg.Sandbox.ClientSecret, sandbox.DefaultClientSecret),
			Blobs:           st.Blobs, Accounts: cfg.Accounts, Logger: log, Vocabulary: cfg.Sandbox.Vocabulary, Tracer: cfg.Tracer,
		})
		if err != nil {
			return nil, err
		}
		inbank := &pos.InbankClient{BaseURL: st.SandboxURL, APIKey: sandbox.DefaultInbankAPIKey, Logger: log, HTTP: InbankHTTPClient(cfg.Tracer)}
		engine := workflows.NewEngine()
		engine.RecheckInterval = cfg.RecheckInterval
		engine.LocalStepBudget = cfg.LocalStepBudget
		engine.Vocabulary = cfg.Sandbox.Vocabulary
		st.Worker, err = worker.New(st.Client, worker.Deps{Engine: engine, Transaction: acts, Payment: &activities.Payment{Inbank: inbank}}, worker.Options{})
		if err != nil {
			return nil, err
		}
		if err := st.Worker.Start(); err != nil {
			return nil, fmt.Errorf("start worker: %w", err)
		}
		st.onClose(func() error { st.Worker.Stop(); return nil })
	}

	verifier, err := epc.NewVerifier(orDefault(cfg.Sandbox.SigningKey, sandbox.DefaultSigningKey))
	if err != nil {
		return nil, err
	}
	var codecHandler http.Handler
	if cfg.CodecKeys != nil {
		codecHandler = codec.Handler(cfg.CodecKeys, codec.HandlerOptions{Token: cfg.CodecToken, AllowedOrigins: UIOrigins(st.Server.UIURL())})
	}
	portalDSN := cfg.PortalDSN
	if portalDSN == "" {
		portalDSN = filepath.Join(cfg.DataDir, "portal.db")
		if cfg.DBPath == devserver.MemoryDB {
			portalDSN = ":memory:"
		}
	}
	st.Portal, err = portal.Open(ctx, portalDSN)
	if err != nil {
		return nil, err
	}
	st.onClose(st.Portal.Close)
	st.Dedup, err = dedup.Open(ctx, orDefault(cfg.DedupDSN, portalDSN), dedup.Options{MaxAge: cfg.DedupMaxAge, Logger: log.With("component", "dedup")})
	if err != nil {
		return nil, err
	}
	st.onClose(st.Dedup.Close)
	portalSecret := cfg.PortalSecret
	if portalSecret == nil {
		portalSecret = portal.RandomSecret()
	}
	delivery, payments, err := SessionRoutes(SessionsConfig{
		Temporal: st.Client, Portal: st.Portal, PortalSecret: portalSecret, PublicURL: st.APIURL, POSBaseURL: st.SandboxURL,
		POSSubscriptionID: sandbox.DefaultPOSSubscriptionID, POSKeyID: sandbox.DefaultPOSSigningKeyID, POSSecret: sandbox.DefaultPOSSigningSecret,
		InbankAPIKey: sandbox.DefaultInbankAPIKey, PackageExpiresAfter: cfg.PackageExpiresAfter, Tracer: cfg.Tracer,
		POSScheme: cfg.Sandbox.Vocabulary.POSScheme(),
	})
	if err != nil {
		return nil, err
	}
	dc, fc := Converters(cfg.CodecKeys)
	console := &api.Console{
		Engine: starter.NewConsole(st.Client, dc, fc), TemporalUIURL: st.Server.UIURL(), Namespace: st.Server.Namespace(), PublicURL: st.APIURL,
	}
	h, err := api.New(api.Config{
		Engine: st.Starter, Verifier: verifier, Vocabulary: cfg.Sandbox.Vocabulary, Blobs: st.Blobs, Logger: log.With("component", "api"),
		Metrics: st.Metrics, Ready: st.Starter.CheckHealth, OperatorToken: cfg.OperatorToken,
		Codec: codecHandler, Delivery: delivery, Payments: payments, Dedup: st.Dedup, Console: console,
		MaxReportBytes: cfg.MaxReportBytes, UploadTimeout: cfg.UploadTimeout, Tracer: cfg.Tracer,
	})
	if err != nil {
		return nil, err
	}
	if err := st.serve(apiLn, h, cfg.HTTP, log.With("component", "api")); err != nil {
		return nil, err
	}
	if cfg.RecordLocation {
		remove, err := recordLocation(cfg, st, portalDSN)
		if err != nil {
			return nil, err
		}
		st.onClose(remove) // first thing at Close: nobody is sent to a stack that is stopping
	}
	return st, nil
}

// Close stops every part, the last started first.
func (s *Stack) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	s.closers = nil
	return errors.Join(errs...)
}

func (s *Stack) onClose(f func() error) { s.closers = append(s.closers, f) }

func (s *Stack) serve(ln net.Listener, h http.Handler, l httpserver.Limits, log *slog.Logger) error {
	srv, err := httpserver.Serve(ln, h, l, log)
	if err != nil {
		return err
	}
	s.onClose(func() error { return srv.Stop(5 * time.Second) })
	return nil
}

// DialOption adjusts the client options of Dial.
type DialOption func(*client.Options)

// WithCodecKeys encrypts every payload and failure message the client writes, and decrypts
// what it reads, with k; nil leaves payloads in clear.
func WithCodecKeys(k *codec.Keyring) DialOption {
	return func(o *client.Options) {
		if k == nil {
			return
		}
		o.DataConverter, o.FailureConverter = Converters(k)
	}
}

// Converters are the data and failure converters of a keyring (nil: the SDK defaults).
func Converters(k *codec.Keyring) (converter.DataConverter, converter.FailureConverter) {
	if k == nil {
		return nil, nil
	}
	dc := codec.DataConverter(k)
	return dc, codec.FailureConverter(dc)
}

// UIOrigins are the browser origins of a Temporal UI served at uiURL: as given, and with
// 127.0.0.1 and localhost swapped, since a user may open either. Empty for no UI.
func UIOrigins(uiURL string) []string {
	if uiURL == "" {
		return nil
	}
	out := []string{uiURL}
	for _, pair := range [][2]string{{"://127.0.0.1:", "://localhost:"}, {"://localhost:", "://127.0.0.1:"}} {
		if alt := strings.Replace(uiURL, pair[0], pair[1], 1); alt != uiURL {
			out = append(out, alt)
		}
	}
	return out
}

// WithInterceptor adds i (nil: nothing) to the client's interceptors; a worker built from
// the client runs it too (traced.Interceptor traces workflows and activities so).
func WithInterceptor(i interceptor.ClientInterceptor) DialOption {
	return func(o *client.Options) {
		if i != nil {
			o.Interceptors = append(o.Interceptors, i)
		}
	}
}

// Dial connects a Temporal client with epcflow's logger and metrics.
func Dial(ctx context.Context, hostPort, namespace string, log *slog.Logger, m *metrics.Registry, opts ...DialOption) (client.Client, error) {
	o := client.Options{
		HostPort:  hostPort,
		Namespace: namespace,
		Logger:    sdklog.NewStructuredLogger(sdkLogger(log.With("component", "temporal-sdk"))),
	}
	if m != nil {
		o.MetricsHandler = m.TemporalHandler()
	}
	for _, opt := range opts {
		opt(&o)
	}
	c, err := client.DialContext(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s: %w", hostPort, err)
	}
	return c, nil
}

// ActivitiesConfig configures NewActivities.
type ActivitiesConfig struct {
	EPCBaseURL, EPCClientID, EPCClientSecret string
	EPCAuthStyle                             epc.AuthStyle // default: epc.AuthForm
	Blobs                                    blobs.Store
	Tracer                                   trace.TracerProvider // traces the EPC calls
	Accounts                                 accounts.Store       // default: the demo store
	Partner                                  *epc.Party           // default: DemoPartner()
	Logger                                   *slog.Logger
	Vocabulary                               vocab.Vocabulary // the names of the events read and posted
}

// DemoPartner is the responding party of the demo partner.
func DemoPartner() epc.Party {
	return epc.Party{
		Name: "epcflow Demo Appraisals & Flood", Address: "3232 Loan Ave", City: "Pleasanton", State: "CA", PostalCode: "94588",
		PointOfContact: &epc.Contact{Name: "Order Desk", Role: "Co-ordinator", Email: "orders@epcflow.example", Phone: "343-222-1954"},
	}
}

// NewActivities builds the transaction flow's activities with a real EPC client.
func NewActivities(cfg ActivitiesConfig) (*activities.Transaction, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	var hc *http.Client // nil: the client's default
	if cfg.Tracer != nil {
		hc = traced.Client(cfg.Tracer, epc.DefaultHTTPTimeout)
	}
	ec, err := epc.NewClient(epc.Config{BaseURL: cfg.EPCBaseURL, ClientID: cfg.EPCClientID, ClientSecret: cfg.EPCClientSecret, AuthStyle: cfg.EPCAuthStyle, Logger: log.With("component", "epc"), HTTPClient: hc})
	if err != nil {
		return nil, err
	}
	if cfg.Accounts == nil {
		cfg.Accounts = accounts.Demo()
	}
	partner := DemoPartner()
	if cfg.Partner != nil {
		partner = *cfg.Partner
	}
	return &activities.Transaction{
		EPC: ec, Accounts: cfg.Accounts, Blobs: cfg.Blobs, Schemas: schemas.Default(), Partner: partner,
		Logger: log.With("component", "activities"), Vocabulary: cfg.Vocabulary,
	}, nil
}

// InbankHTTPClient is the Inbank client's HTTP client: nil (its default) untraced.
func InbankHTTPClient(tp trace.TracerProvider) *http.Client {
	if tp == nil {
		return nil
	}
	return traced.Client(tp, pos.InbankHTTPTimeout)
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

func ignoreClosed(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
