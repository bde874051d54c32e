// Package sandbox is a stateful emulator of the platforms epcflow talks to, served over real
// HTTP so that everything runs and is tested on one machine: Encompass Partner Connect and the
// lender behind it (epcemu), ICE's POS Framework (posemu) and Inbank's e-POS (inbankemu), over
// a shared core (internal/core: errors, fault injection, webhook delivery, state file). This
// package assembles them on one handler and is the only one the rest of epcflow uses.
//
// The sandbox is strict on purpose: it enforces the documented life-cycle, validates every body
// against the schemas and answers precise errors, so that a partner that works against it has
// few surprises against the real platform.
package sandbox

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/epcflow/epcflow/sandbox/epcemu"
	"github.com/epcflow/epcflow/sandbox/inbankemu"
	"github.com/epcflow/epcflow/sandbox/internal/core"
	"github.com/epcflow/epcflow/sandbox/posemu"
	"github.com/epcflow/epcflow/vocab"
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

	// DefaultProduct is the product `epcflow dev` uses: entitled to CREATE_SERVICE_EVENTS for
	// every request type.
	DefaultProduct = epcemu.DefaultProduct
	// DefaultLenderClientID is the lender's client id (the transaction's clientId).
	DefaultLenderClientID = epcemu.DefaultLenderClientID

	// The POS Framework's signing settings ([ours]: one secret, both directions).
	DefaultPOSSubscriptionID = posemu.DefaultSubscriptionID
	DefaultPOSSigningKeyID   = posemu.DefaultSigningKeyID
	DefaultPOSSigningSecret  = posemu.DefaultSigningSecret

	// The Inbank emulator's shop (the seed's example) and the key `epcflow dev` gives the
	// engine; a session without validUntil lasts DefaultInbankSessionLifetime.
	DefaultInbankShopUUID        = inbankemu.DefaultShopUUID
	DefaultInbankAPIKey          = inbankemu.DefaultAPIKey
	DefaultInbankSessionLifetime = inbankemu.DefaultSessionLifetime
)

// Types of the control APIs and the emulators, under the names callers know.
type (
	FaultConfig        = core.FaultConfig
	FaultRule          = core.FaultRule
	FaultOutage        = core.FaultOutage
	Duration           = core.Duration
	WebhookBehavior    = core.WebhookBehavior
	TransactionSummary = epcemu.TransactionSummary
	TransactionRecord  = epcemu.Record
	PackageReply       = posemu.PackageReply
	InbankShop         = inbankemu.Shop
	InbankCallbacks    = inbankemu.Callbacks
	EPC                = epcemu.EPC
	Inbank             = inbankemu.Inbank
)

// Config configures a Server. The zero value is usable: New fills in the defaults above.
type Config struct {
	// PartnerURL is the partner's base URL; EPC webhooks are posted to {PartnerURL}/webhooks/epc,
	// POS package events to {PartnerURL}/v1/packages.
	PartnerURL string
	// PartnerURLs, when set, are several base URLs of the partner (API replicas) that EPC
	// webhooks are spread over instead of PartnerURL, as a load balancer would [ours]: each
	// webhook copy goes to the next replica in turn, a retry to the replica after the one that
	// failed, and a refused connection moves on to the next replica at once. POS package
	// events still go to PartnerURL.
	PartnerURLs []string
	// ClientID and ClientSecret are the only credentials the token endpoint accepts.
	ClientID     string
	ClientSecret string
	// Vocabulary is the names the sandbox speaks, the same as the parts' (--vocabulary): the
	// lender's cancellation and update events, the webhook signature header, the POS
	// Framework's signing scheme. The zero value is vocab.Default().
	Vocabulary vocab.Vocabulary
	// OAuthAcceptBasic makes the token endpoint accept the client id and secret by HTTP Basic
	// too. By default it takes them only as the form fields client_id and client_secret, with
	// scope=pc pcapi (what every public sample sends, and epcflow's client by default), so
	// that a test against the sandbox proves that way.
	OAuthAcceptBasic bool
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
	// settings ([ours]: one secret, both directions); blank means the defaults above.
	POSSubscriptionID string
	POSSigningKeyID   string
	POSSigningSecret  string
	// InbankShops are the shops the Inbank e-POS emulator knows, by shop UUID, each with the
	// API key that may use it; nil means DefaultInbankShopUUID with DefaultInbankAPIKey.
	InbankShops map[string]InbankShop
	// StateFile, when set, makes the EPC emulator's state survive a restart: New loads it from
	// this file if it exists, and the sandbox saves it there on Close and, while running, every
	// StateSaveInterval when something changed, so a crash loses at most that much. The bytes
	// of uploaded and attached files go to the directory StateFile+".media". Fault rules,
	// webhook behavior, POS packages and Inbank sessions are not saved: they reset at every
	// start. Empty keeps everything in memory.
	StateFile string
	// StateSaveInterval is how often a changed state is saved to StateFile.
	StateSaveInterval time.Duration
}

// Server serves every emulator and the control API on one handler.
type Server struct {
	cfg    Config
	rt     *core.Runtime
	epc    *epcemu.EPC
	pos    *posemu.Framework
	inbank *inbankemu.Inbank
	state  *core.StateFile // nil without Config.StateFile
}

// New builds a Server from cfg. Call Close when done to stop webhook delivery.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	rt := core.NewRuntime(core.Options{
		Logger: cfg.Logger,
		Clock:  cfg.Clock,
		Seed:   cfg.Seed,
		Webhooks: core.WebhookConfig{
			Client:        cfg.HTTPClient,
			Workers:       cfg.WebhookWorkers,
			Tries:         cfg.WebhookTries,
			RetryInterval: cfg.WebhookRetryInterval,
			Timeout:       cfg.WebhookTimeout,
		},
	})
	if cfg.PublicURL != "" {
		rt.SetPublicURL(cfg.PublicURL)
	}
	s := &Server{cfg: cfg, rt: rt}
	s.epc = epcemu.New(rt, epcemu.Config{
		PartnerURL: cfg.PartnerURL, PartnerURLs: cfg.PartnerURLs, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
		SigningKey: cfg.SigningKey, TokenLifetime: cfg.TokenLifetime, OAuthAcceptBasic: cfg.OAuthAcceptBasic,
		Vocabulary: cfg.Vocabulary,
	})
	s.pos, err = posemu.New(rt, posemu.Config{
		PartnerURL: cfg.PartnerURL, SubscriptionID: cfg.POSSubscriptionID,
		SigningKeyID: cfg.POSSigningKeyID, SigningSecret: cfg.POSSigningSecret, Scheme: cfg.Vocabulary.POSScheme(),
	})
	if err == nil {
		s.inbank = inbankemu.New(rt, cfg.InbankShops)
		rt.MountControl()
		err = s.openState()
	}
	if err != nil {
		// Not Close: it would save, over a state file that failed to load.
		rt.Close()
		return nil, err
	}
	return s, nil
}

// Handler returns the HTTP handler serving every route of the sandbox.
func (s *Server) Handler() http.Handler { return s.rt.Handler() }

// EPC returns the EPC emulator, for callers that drive it in-process.
func (s *Server) EPC() *EPC { return s.epc }

// SetPublicURL sets the sandbox's own base URL (see Config.PublicURL). Safe to call while
// serving; links already handed out keep the old base.
func (s *Server) SetPublicURL(u string) { s.rt.SetPublicURL(u) }

// PublicURL returns the base URL the sandbox puts in links ("" until known).
func (s *Server) PublicURL() string { return s.rt.PublicURL() }

// WaitIdle blocks until no webhook is queued, in flight or waiting for a retry, and no
// response is being processed; or until ctx ends. Tests and tools use it to settle.
func (s *Server) WaitIdle(ctx context.Context) error { return s.rt.WaitIdle(ctx) }

// Close stops webhook delivery and background processing and waits for them to return, then
// saves the state to Config.StateFile if set (webhooks not yet delivered are saved as pending
// and sent again by the next New). The handler keeps answering (the caller owns the listener)
// but no webhook leaves any more, and later changes are not saved unless Close is called again.
func (s *Server) Close() error {
	s.rt.Close()
	if s.state != nil {
		return s.state.Close()
	}
	return nil
}

// openState loads Config.StateFile, if set and present, and starts saving it periodically.
func (s *Server) openState() error {
	if s.cfg.StateFile == "" {
		return nil
	}
	st := core.NewStateFile(s.cfg.StateFile, epcemu.StateVersion, s.rt.Log, s.rt.Changes, s.epc.Snapshot)
	var got epcemu.Restored
	found, err := st.Load(func(data []byte) error {
		var err error
		got, err = s.epc.Restore(data, st)
		return err
	})
	if err != nil {
		return err
	}
	if found {
		s.rt.Log.Info("sandbox: state loaded", "file", s.cfg.StateFile, "transactions", got.Transactions,
			"webhooksRequeued", got.WebhooksRequeued, "savedAt", got.SavedAt)
	}
	s.state = st
	st.Start(s.cfg.StateSaveInterval)
	return nil
}
