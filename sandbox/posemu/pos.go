// Package posemu emulates ICE's Point-of-Sale Framework for the sandbox (seed 000, spec
// pos-sessions.md):
//
//	POST /pos/v1/sessions            Create a Session (signed): 201 {sessionId, url, expiresAt}
//	GET  /deliveryroom/{token}       the Delivery Room: 200 once, then 409; 410 after 30 s
//
// Control API (JSON, no authentication):
//
//	POST /sandbox/pos/packages               create or resend a package: stores it, posts a
//	                                         signed Create Package Event to {PartnerURL}/v1/packages
//	                                         and answers {package, partner}
//	GET  /sandbox/pos/packages/{packageId}   package, recipients, bindings, sessions
//
// Choices where the platform is not documented ([ours], kept here in one place):
//   - The CreateDeliveryRoom body carries "userId", the partner's portal user: on the first
//     session a recipient is bound to it for good; another user gets 403.
//   - Errors: 401 names the header that failed; 403 recipient not in the package or bound to
//     another user; 404 unknown package (or one under another instance or loan).
//   - A package id is unique across instances and loans; resending a package (same ids)
//     replaces its recipients and keeps every binding, even of a recipient no longer listed
//     (who then gets 403: not a recipient).
//   - A Delivery Room URL used once answers 409 forever after, even once expired.
//   - The Create Package Event is tried as many times as webhooks are, as far apart, on 5xx,
//     timeouts and network errors, never after a 4xx; a 2xx answer must be a
//     pos.PackageAnswer for every recipient, else the control call answers 502.
//   - By our convention one secret signs both directions (our Create a Session calls, its
//     Create Package Events); `epcflow dev` configures the engine with the same values.
package posemu

import (
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/sandbox/internal/core"
	"github.com/epcflow/epcflow/schemas"
)

// Defaults of the POS Framework emulator's signing settings.
const (
	DefaultSubscriptionID = "sandbox-integration"
	DefaultSigningKeyID   = "sandbox-pos-key"
	DefaultSigningSecret  = "sandbox-pos-secret"
)

// Config is what the POS Framework emulator takes of the sandbox's config (sandbox.Config
// documents each field).
type Config struct {
	PartnerURL string // Create Package Events go to {PartnerURL}/v1/packages
	// The signing settings, both directions [ours]; blank means the defaults above.
	SubscriptionID, SigningKeyID, SigningSecret string
	// Scheme is how requests are signed, both directions; the zero value is pos.DefaultScheme().
	Scheme pos.Scheme
}

// WithDefaults fills in the signing settings; blank ids count as unset.
func (c Config) WithDefaults() Config {
	if strings.TrimSpace(c.SubscriptionID) == "" {
		c.SubscriptionID = DefaultSubscriptionID
	}
	if strings.TrimSpace(c.SigningKeyID) == "" {
		c.SigningKeyID = DefaultSigningKeyID
	}
	if c.SigningSecret == "" {
		c.SigningSecret = DefaultSigningSecret
	}
	if c.Scheme == (pos.Scheme{}) {
		c.Scheme = pos.DefaultScheme()
	}
	return c
}

// POS Framework routes. Their patterns double as the route names of fault rules.
const (
	RouteSessions     = "POST " + pos.SessionsPath
	RouteDeliveryRoom = "GET /deliveryroom/{token}"
	RoutePackagesPost = "POST /sandbox/pos/packages"
	RoutePackageGet   = "GET /sandbox/pos/packages/{packageId}"
)

// deliveryRoomPath is where session URLs point: {PublicURL}{deliveryRoomPath}{token}.
const deliveryRoomPath = "/deliveryroom/"

// Framework is the emulator.
type Framework struct {
	rt       *core.Runtime
	cfg      Config
	signer   *pos.Signer
	verifier *pos.Verifier

	mu       sync.Mutex
	packages map[string]*posPackage // by packageId
	sessions map[string]*posSession // by token
}

// posPackage is a package the lender created. Guarded by Framework.mu.
type posPackage struct {
	event    pos.PackageEvent
	created  time.Time
	updated  time.Time
	sent     int                    // Create Package Events sent (first one and resends)
	bindings map[string]*posBinding // by recipientId; never removed
	sessions []*posSession
}

// posBinding ties a recipient to the portal user who established its first session.
type posBinding struct {
	RecipientID string    `json:"recipientId"`
	UserID      string    `json:"userId"`
	BoundAt     time.Time `json:"boundAt"`
	SessionID   string    `json:"sessionId"`
}

// posSession is one Delivery Room session. The token is the secret part of its URL: it is
// never shown, logged or put in an error.
type posSession struct {
	id, token                      string
	packageID, recipientID, userID string
	created, expires, used         time.Time // used is zero until the URL is opened
}

// New builds the emulator (cfg with its defaults filled in) and registers its routes on rt.
func New(rt *core.Runtime, cfg Config) (*Framework, error) {
	cfg = cfg.WithDefaults()
	signer, err := pos.NewSigner(pos.DefaultEnvironment, cfg.SubscriptionID, cfg.SigningKeyID, cfg.SigningSecret)
	if err == nil {
		signer, err = signer.WithScheme(cfg.Scheme)
	}
	if err != nil {
		return nil, fmt.Errorf("sandbox: POS signer: %w", err)
	}
	p := &Framework{
		rt:       rt,
		cfg:      cfg,
		signer:   signer,
		verifier: signer.Verifier(),
		packages: map[string]*posPackage{},
		sessions: map[string]*posSession{},
	}
	rt.Handle(RouteSessions, core.RoutePlatform, core.HandlerFunc(p.createSession), nil)
	rt.HandleSecret(RouteDeliveryRoom, core.RouteExplicit, http.HandlerFunc(p.deliveryRoom))
	rt.Handle(RoutePackagesPost, core.RouteExplicit, core.HandlerFunc(p.postPackage), nil)
	rt.Handle(RoutePackageGet, core.RouteExplicit, core.HandlerFunc(p.getPackage), nil)
	return p, nil
}

func (p *Framework) now() time.Time { return p.rt.Now().UTC().Truncate(time.Millisecond) }

// createSession is POST /pos/v1/sessions: signature, body, package, recipient, binding, in
// that order.
func (p *Framework) createSession(w http.ResponseWriter, r *http.Request) error {
	body, err := core.ReadBody(r, core.MaxJSONBody, "body")
	if err != nil {
		return err
	}
	if err := p.verifier.Verify(r.Header, body); err != nil {
		return core.Errorf(http.StatusUnauthorized, core.CodeUnauthorized, "%s", strings.TrimPrefix(err.Error(), "pos: "))
	}
	if err := core.CheckJSONType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	req, err := pos.ParseCreateSessionRequest(body)
	if err != nil {
		return core.Invalid("invalid CreateDeliveryRoom body", schemas.Problems(err))
	}
	base := p.rt.BaseURL(r)

	p.mu.Lock()
	defer p.mu.Unlock()
	pkg, err := p.recipientPackage(req)
	if err != nil {
		return err
	}
	now := p.now()
	sess := &posSession{
		id:          core.NewUUID(),
		token:       core.RandomHex(32),
		packageID:   req.PackageID,
		recipientID: req.RecipientID,
		userID:      req.UserID,
		created:     now,
		expires:     now.Add(pos.SessionLifetime),
	}
	if pkg.bindings[req.RecipientID] == nil {
		pkg.bindings[req.RecipientID] = &posBinding{RecipientID: req.RecipientID, UserID: req.UserID, BoundAt: now, SessionID: sess.id}
		p.rt.Log.Info("pos recipient bound", slog.String("package", req.PackageID),
			slog.String("recipient", req.RecipientID), slog.String("user", req.UserID))
	}
	pkg.sessions = append(pkg.sessions, sess)
	p.sessions[sess.token] = sess
	p.rt.Log.Info("pos session created", slog.String("session", sess.id), slog.String("package", req.PackageID),
		slog.String("recipient", req.RecipientID))
	core.WriteJSON(w, http.StatusCreated, pos.Session{SessionID: sess.id, URL: base + deliveryRoomPath + sess.token, ExpiresAt: sess.expires})
	return nil
}

// recipientPackage is the package a session request names, once its loan, recipient and
// binding check. Caller holds p.mu.
func (p *Framework) recipientPackage(req pos.CreateSessionRequest) (*posPackage, error) {
	pkg := p.packages[req.PackageID]
	if pkg == nil {
		return nil, core.NotFound("package %s not found", core.QuoteShort(req.PackageID))
	}
	if wrong := pkg.mismatch(req.InstanceID, req.GroupNamespace, req.GroupID); wrong != "" {
		return nil, core.NotFound("package %s not found under the %s given (it belongs to another loan)", core.QuoteShort(req.PackageID), wrong)
	}
	if _, ok := pkg.event.Recipient(req.RecipientID); !ok {
		return nil, core.Errorf(http.StatusForbidden, core.CodeForbidden, "recipient %s is not a recipient of package %s",
			core.QuoteShort(req.RecipientID), core.QuoteShort(req.PackageID))
	}
	if b := pkg.bindings[req.RecipientID]; b != nil && b.UserID != req.UserID {
		return nil, core.Errorf(http.StatusForbidden, core.CodeForbidden, "recipient %s is bound to another user", core.QuoteShort(req.RecipientID))
	}
	return pkg, nil
}

// mismatch names the ids that differ from the package's, "" when none does.
func (pkg *posPackage) mismatch(instanceID, groupNamespace, groupID string) string {
	var wrong []string
	if instanceID != pkg.event.InstanceID {
		wrong = append(wrong, "instanceId")
	}
	if groupNamespace != pkg.event.GroupNamespace {
		wrong = append(wrong, "groupNamespace")
	}
	if groupID != pkg.event.GroupID {
		wrong = append(wrong, "groupId")
	}
	return strings.Join(wrong, ", ")
}

// deliveryRoom is GET /deliveryroom/{token}: the page, once.
func (p *Framework) deliveryRoom(w http.ResponseWriter, r *http.Request) {
	status, text := p.openRoom(r.PathValue("token"))
	title := map[int]string{
		http.StatusOK:       "ICE Delivery Room (sandbox)",
		http.StatusNotFound: "Not found",
		http.StatusConflict: "Already used",
		http.StatusGone:     "Expired",
	}[status]
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer") // the URL is a secret
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>%s</title></head>\n<body><h1>%s</h1><p>%s</p></body></html>\n",
		html.EscapeString(title), html.EscapeString(title), html.EscapeString(text))
}

// openRoom uses the session of token, if it may be: the page's status and text.
func (p *Framework) openRoom(token string) (int, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	sess := p.sessions[token]
	switch now := p.now(); {
	case sess == nil:
		return http.StatusNotFound, "No Delivery Room session has this address."
	case !sess.used.IsZero():
		return http.StatusConflict, "This Delivery Room link was already used: links work once. Open the package from the portal again."
	case !now.Before(sess.expires):
		return http.StatusGone, "This Delivery Room link has expired (links last 30 seconds). Open the package from the portal again."
	default:
		sess.used = now
	}
	text := fmt.Sprintf("ICE Delivery Room (sandbox) — package %s, recipient %s, user %s",
		sess.packageID, sess.recipientID, sess.userID)
	// Read under the lock: a resend replaces the package's event.
	if pkg := p.packages[sess.packageID]; pkg != nil {
		if rcp, ok := pkg.event.Recipient(sess.recipientID); ok {
			text += fmt.Sprintf(". Welcome, %s %s.", rcp.FirstName, rcp.LastName)
		}
	}
	return http.StatusOK, text
}
