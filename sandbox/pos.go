package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/schemas"
)

// Defaults of the POS Framework emulator. By our convention one secret signs both
// directions (our Create a Session calls, its Create Package Events); `epcflow dev`
// configures the engine with the same values.
const (
	DefaultPOSSubscriptionID = "sandbox-integration"
	DefaultPOSSigningKeyID   = "sandbox-pos-key"
	DefaultPOSSigningSecret  = "sandbox-pos-secret"
)

// posDefaults fills in the POS Framework settings of c; blank ids count as unset.
func (c *Config) posDefaults() {
	if strings.TrimSpace(c.POSSubscriptionID) == "" {
		c.POSSubscriptionID = DefaultPOSSubscriptionID
	}
	if strings.TrimSpace(c.POSSigningKeyID) == "" {
		c.POSSigningKeyID = DefaultPOSSigningKeyID
	}
	if c.POSSigningSecret == "" {
		c.POSSigningSecret = DefaultPOSSigningSecret
	}
}

// POS Framework routes. Their patterns double as the route names of fault rules.
const (
	routePOSSessions     = "POST " + pos.SessionsPath
	routeDeliveryRoom    = "GET /deliveryroom/{token}"
	routePOSPackagesPost = "POST /sandbox/pos/packages"
	routePOSPackageGet   = "GET /sandbox/pos/packages/{packageId}"
)

// deliveryRoomPath is where session URLs point: {PublicURL}{deliveryRoomPath}{token}.
const deliveryRoomPath = "/deliveryroom/"

// packageEventPath is where the partner receives Create Package Events, under PartnerURL.
const packageEventPath = "/v1/packages"

// maxPartnerAnswer bounds what the sandbox reads of the partner's answer.
const maxPartnerAnswer = 1 << 20

// posFramework emulates ICE's Point-of-Sale Framework (seed 000, spec pos-sessions.md):
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
//   - The Create Package Event is tried WebhookTries times, WebhookRetryInterval apart, on
//     5xx, timeouts and network errors, never after a 4xx; a 2xx answer must be a
//     pos.PackageAnswer for every recipient, else the control call answers 502.
type posFramework struct {
	s        *Server
	signer   *pos.Signer
	verifier *pos.Verifier

	mu       sync.Mutex
	packages map[string]*posPackage // by packageId
	sessions map[string]*posSession // by token
}

// posPackage is a package the lender created. Guarded by posFramework.mu.
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

func newPOSFramework(s *Server) *posFramework {
	// posDefaults left no blank id nor an empty secret, so this cannot fail.
	signer, err := pos.NewSigner(pos.DefaultEnvironment, s.cfg.POSSubscriptionID, s.cfg.POSSigningKeyID, s.cfg.POSSigningSecret)
	if err != nil {
		panic("sandbox: POS signer: " + err.Error())
	}
	return &posFramework{
		s:        s,
		signer:   signer,
		verifier: signer.Verifier(),
		packages: map[string]*posPackage{},
		sessions: map[string]*posSession{},
	}
}

func (p *posFramework) mount() {
	s := p.s
	s.handle(routePOSSessions, routePlatform, handlerFunc(p.createSession), nil)
	p.mountSecretRoute(routeDeliveryRoom, http.HandlerFunc(p.deliveryRoom))
	s.handle(routePOSPackagesPost, routeExplicit, handlerFunc(p.postPackage), nil)
	s.handle(routePOSPackageGet, routeExplicit, handlerFunc(p.getPackage), nil)
}

// mountSecretRoute registers a route whose path carries a one-time secret. It is Server.handle
// (fault rules naming it apply) except for the debug log line, which names the route, never
// the path.
func (p *posFramework) mountSecretRoute(pattern string, h http.Handler) {
	s := p.s
	s.routes[pattern] = routeExplicit
	inner := s.faults.wrap(pattern, routeExplicit, h)
	s.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		inner.ServeHTTP(sw, r)
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "sandbox http",
			slog.String("method", r.Method), slog.String("route", pattern),
			slog.Int("status", sw.status), slog.String("fault", sw.fault),
			slog.Duration("duration", time.Since(start)))
	}))
}

func (p *posFramework) now() time.Time { return p.s.now().UTC().Truncate(time.Millisecond) }

// createSession is POST /pos/v1/sessions: signature, body, package, recipient, binding, in
// that order.
func (p *posFramework) createSession(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxJSONBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errorf(http.StatusRequestEntityTooLarge, codeTooLarge, "body over %d bytes", maxJSONBody)
		}
		return errorf(http.StatusBadRequest, codeInvalidRequest, "read body: %v", err)
	}
	if err := p.verifier.Verify(r.Header, body); err != nil {
		return errorf(http.StatusUnauthorized, codeUnauthorized, "%s", strings.TrimPrefix(err.Error(), "pos: "))
	}
	if err := checkJSONType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	req, err := pos.ParseCreateSessionRequest(body)
	if err != nil {
		return invalid("invalid CreateDeliveryRoom body", schemas.Problems(err))
	}
	base := p.s.baseURL(r)

	p.mu.Lock()
	defer p.mu.Unlock()
	pkg := p.packages[req.PackageID]
	if pkg == nil {
		return notFound("package %s not found", quoteShort(req.PackageID))
	}
	if wrong := pkg.mismatch(req.InstanceID, req.GroupNamespace, req.GroupID); wrong != "" {
		return notFound("package %s not found under the %s given (it belongs to another loan)", quoteShort(req.PackageID), wrong)
	}
	if _, ok := pkg.event.Recipient(req.RecipientID); !ok {
		return errorf(http.StatusForbidden, codeForbidden, "recipient %s is not a recipient of package %s",
			quoteShort(req.RecipientID), quoteShort(req.PackageID))
	}
	b := pkg.bindings[req.RecipientID]
	if b != nil && b.UserID != req.UserID {
		return errorf(http.StatusForbidden, codeForbidden, "recipient %s is bound to another user", quoteShort(req.RecipientID))
	}
	now := p.now()
	sess := &posSession{
		id:          newUUID(),
		token:       randomHex(32),
		packageID:   req.PackageID,
		recipientID: req.RecipientID,
		userID:      req.UserID,
		created:     now,
		expires:     now.Add(pos.SessionLifetime),
	}
	if b == nil {
		pkg.bindings[req.RecipientID] = &posBinding{RecipientID: req.RecipientID, UserID: req.UserID, BoundAt: now, SessionID: sess.id}
		p.s.log.Info("pos recipient bound", slog.String("package", req.PackageID),
			slog.String("recipient", req.RecipientID), slog.String("user", req.UserID))
	}
	pkg.sessions = append(pkg.sessions, sess)
	p.sessions[sess.token] = sess
	p.s.log.Info("pos session created", slog.String("session", sess.id), slog.String("package", req.PackageID),
		slog.String("recipient", req.RecipientID))
	writeJSON(w, http.StatusCreated, pos.Session{SessionID: sess.id, URL: base + deliveryRoomPath + sess.token, ExpiresAt: sess.expires})
	return nil
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
func (p *posFramework) deliveryRoom(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	p.mu.Lock()
	sess := p.sessions[token]
	var status int
	var rcp pos.Recipient // read under the lock: a resend replaces the package's event
	switch now := p.now(); {
	case sess == nil:
		status = http.StatusNotFound
	case !sess.used.IsZero():
		status = http.StatusConflict
	case !now.Before(sess.expires):
		status = http.StatusGone
	default:
		status = http.StatusOK
		sess.used = now
		if pkg := p.packages[sess.packageID]; pkg != nil {
			rcp, _ = pkg.event.Recipient(sess.recipientID)
		}
	}
	p.mu.Unlock()

	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer") // the URL is a secret
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	var title, text string
	switch status {
	case http.StatusOK:
		title = "ICE Delivery Room (sandbox)"
		text = fmt.Sprintf("ICE Delivery Room (sandbox) — package %s, recipient %s, user %s",
			sess.packageID, sess.recipientID, sess.userID)
		if rcp.RecipientID != "" {
			text += fmt.Sprintf(". Welcome, %s %s.", rcp.FirstName, rcp.LastName)
		}
	case http.StatusNotFound:
		title, text = "Not found", "No Delivery Room session has this address."
	case http.StatusConflict:
		title, text = "Already used", "This Delivery Room link was already used: links work once. Open the package from the portal again."
	case http.StatusGone:
		title, text = "Expired", "This Delivery Room link has expired (links last 30 seconds). Open the package from the portal again."
	}
	_, _ = fmt.Fprintf(w, "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>%s</title></head>\n<body><h1>%s</h1><p>%s</p></body></html>\n",
		html.EscapeString(title), html.EscapeString(title), html.EscapeString(text))
}

// packageMembers and recipientMembers are what a control body may hold: the event's shape,
// strictly (a typo is a 400, not an ignored member).
var (
	packageMembers   = []string{"instanceId", "groupNamespace", "groupId", "packageId", "recipients"}
	recipientMembers = []string{"recipientId", "firstName", "lastName", "email", "role"}
)

// postPackage is POST /sandbox/pos/packages.
func (p *posFramework) postPackage(w http.ResponseWriter, r *http.Request) error {
	body, err := readJSON(r, false)
	if err != nil {
		return err
	}
	ev, perr := pos.ParsePackageEvent(body)
	ps := problems(schemas.Problems(perr))
	if obj, ok := decodeObject(body, "", new(problems)); ok {
		unknownKeys(obj, "", &ps, packageMembers...)
		var items []json.RawMessage
		if json.Unmarshal(obj["recipients"], &items) == nil {
			for i, raw := range items {
				if robj, ok := decodeObject(raw, "", new(problems)); ok {
					unknownKeys(robj, pointer("/recipients", i), &ps, recipientMembers...)
				}
			}
		}
	}
	if len(ps) > 0 {
		return invalid("invalid package", ps)
	}

	now := p.now()
	p.mu.Lock()
	pkg := p.packages[ev.PackageID]
	status := http.StatusOK
	switch {
	case pkg == nil:
		status = http.StatusCreated
		pkg = &posPackage{created: now, bindings: map[string]*posBinding{}}
		p.packages[ev.PackageID] = pkg
	case pkg.mismatch(ev.InstanceID, ev.GroupNamespace, ev.GroupID) != "":
		wrong := pkg.mismatch(ev.InstanceID, ev.GroupNamespace, ev.GroupID)
		p.mu.Unlock()
		return conflict("package %s already exists under another loan (%s differ)", quoteShort(ev.PackageID), wrong)
	}
	pkg.event = ev
	pkg.updated = now
	pkg.sent++
	p.mu.Unlock()

	res := p.sendEvent(r.Context(), ev)
	p.mu.Lock()
	view := pkg.view(now)
	p.mu.Unlock()
	reply := posPackageReply{Package: view, Partner: res}
	if res.failure != "" {
		reply.Code, reply.Message = "partner_failed", res.failure
		status = http.StatusBadGateway
	}
	writeJSON(w, status, reply)
	return nil
}

// posPackageReply is the answer of POST /sandbox/pos/packages; Code and Message are set (with
// status 502) when the partner did not take the event.
type posPackageReply struct {
	Code    string         `json:"code,omitempty"`
	Message string         `json:"message,omitempty"`
	Package posPackageView `json:"package"`
	Partner posDelivery    `json:"partner"`
}

// posDelivery is how one Create Package Event went.
type posDelivery struct {
	URL      string           `json:"url"`
	Status   int              `json:"status,omitempty"` // of the last try that got a reply
	Body     json.RawMessage  `json:"body,omitempty"`   // its body: JSON as sent, else a JSON string
	Attempts []webhookAttempt `json:"attempts"`
	// Elapsed is how long the last try took; the platform wants an answer within 1 s.
	Elapsed  Duration          `json:"elapsed"`
	Problems []schemas.Problem `json:"problems,omitempty"` // a 2xx answer that is no pos.PackageAnswer

	failure string // why the event did not get through, "" when it did
}

// sendEvent posts the signed Create Package Event for ev to the partner, synchronously: the
// platform's webhook is synchronous too, the partner's answer is the point.
func (p *posFramework) sendEvent(ctx context.Context, ev pos.PackageEvent) posDelivery {
	cfg := p.s.cfg
	// Stop when the caller leaves or the sandbox closes.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(p.s.ctx, cancel)
	defer stop()

	body, _ := json.Marshal(ev) // plain strings: cannot fail
	header := p.signer.Header(body)
	header.Set("Content-Type", "application/json")
	header.Set("User-Agent", "epcflow-sandbox")
	d := posDelivery{URL: cfg.PartnerURL + packageEventPath, Attempts: []webhookAttempt{}}
	log := p.s.log.With(slog.String("package", ev.PackageID))
	for try := 1; ; try++ {
		start := time.Now()
		status, answer, err := p.postEvent(ctx, d.URL, header, body)
		d.Elapsed = Duration(time.Since(start))
		a := webhookAttempt{At: p.now(), Try: try, Status: status}
		if err != nil {
			a.Error = err.Error()
		}
		d.Attempts = append(d.Attempts, a)
		if err == nil {
			d.Status, d.Body = status, answerJSON(answer)
		}
		switch {
		case err == nil && status >= 200 && status < 300:
			if _, aerr := pos.ParsePackageAnswer(ev, answer); aerr != nil {
				d.Problems = schemas.Problems(aerr)
				if len(d.Problems) == 0 {
					d.Problems = []schemas.Problem{{Pointer: "", Message: aerr.Error()}}
				}
				d.failure = fmt.Sprintf("partner answered %d but not with a package answer: %s", status, d.Problems[0])
				log.Warn("pos package event: bad answer", slog.Int("status", status))
				return d
			}
			log.Info("pos package event delivered", slog.Int("status", status), slog.Int("try", try))
			return d
		case err == nil && status >= 400 && status < 500:
			d.failure = fmt.Sprintf("partner refused the event: %d (not retried)", status)
			log.Warn("pos package event refused", slog.Int("status", status))
			return d
		case ctx.Err() != nil:
			d.failure = "delivery interrupted: " + ctx.Err().Error()
			return d
		case try >= cfg.WebhookTries:
			d.failure = fmt.Sprintf("partner did not answer 2xx in %d tries: last %s", try, attemptText(a))
			log.Warn("pos package event failed", slog.Int("tries", try))
			return d
		}
		log.Info("pos package event try failed; will retry", slog.Int("try", try), slog.Duration("in", cfg.WebhookRetryInterval))
		t := time.NewTimer(cfg.WebhookRetryInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			d.failure = "delivery interrupted: " + ctx.Err().Error()
			return d
		case <-t.C:
		}
	}
}

func attemptText(a webhookAttempt) string {
	if a.Error != "" {
		return a.Error
	}
	return fmt.Sprintf("status %d", a.Status)
}

// postEvent makes one try; it returns the reply's status and body.
func (p *posFramework) postEvent(ctx context.Context, url string, header http.Header, body []byte) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, p.s.cfg.WebhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("build request: %w", err)
	}
	for k, vs := range header {
		req.Header[k] = slices.Clone(vs)
	}
	resp, err := p.s.hooks.client.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return 0, nil, fmt.Errorf("timed out after %s", p.s.cfg.WebhookTimeout)
		}
		return 0, nil, stripURL(err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxPartnerAnswer))
	if err != nil {
		return 0, nil, fmt.Errorf("read answer: %w", stripURL(err))
	}
	return resp.StatusCode, answer, nil
}

// answerJSON is the partner's answer as JSON: as sent when it is JSON, else as a string.
func answerJSON(b []byte) json.RawMessage {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if json.Valid(b) {
		var c bytes.Buffer
		if json.Compact(&c, b) == nil {
			return c.Bytes()
		}
	}
	s, _ := json.Marshal(string(b))
	return s
}

// getPackage is GET /sandbox/pos/packages/{packageId}.
func (p *posFramework) getPackage(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("packageId")
	p.mu.Lock()
	pkg := p.packages[id]
	var view posPackageView
	if pkg != nil {
		view = pkg.view(p.now())
	}
	p.mu.Unlock()
	if pkg == nil {
		return notFound("package %s not found", quoteShort(id))
	}
	writeJSON(w, http.StatusOK, view)
	return nil
}

// posPackageView is a package as the control API shows it. Sessions never show their token.
type posPackageView struct {
	InstanceID     string           `json:"instanceId"`
	GroupNamespace string           `json:"groupNamespace"`
	GroupID        string           `json:"groupId"`
	PackageID      string           `json:"packageId"`
	Recipients     []pos.Recipient  `json:"recipients"`
	Bindings       []posBinding     `json:"bindings"`
	Sessions       []posSessionView `json:"sessions"`
	EventsSent     int              `json:"eventsSent"`
	Created        time.Time        `json:"created"`
	Updated        time.Time        `json:"updated"`
}

type posSessionView struct {
	SessionID   string     `json:"sessionId"`
	RecipientID string     `json:"recipientId"`
	UserID      string     `json:"userId"`
	Created     time.Time  `json:"created"`
	ExpiresAt   time.Time  `json:"expiresAt"`
	State       string     `json:"state"` // unused, used or expired
	UsedAt      *time.Time `json:"usedAt,omitempty"`
}

// Session states in the control view.
const (
	posSessionUnused  = "unused"
	posSessionUsed    = "used"
	posSessionExpired = "expired"
)

// view renders pkg at now. Caller holds posFramework.mu.
func (pkg *posPackage) view(now time.Time) posPackageView {
	v := posPackageView{
		InstanceID:     pkg.event.InstanceID,
		GroupNamespace: pkg.event.GroupNamespace,
		GroupID:        pkg.event.GroupID,
		PackageID:      pkg.event.PackageID,
		Recipients:     slices.Clone(pkg.event.Recipients),
		Bindings:       []posBinding{},
		Sessions:       []posSessionView{},
		EventsSent:     pkg.sent,
		Created:        pkg.created,
		Updated:        pkg.updated,
	}
	for _, id := range sortedKeys(pkg.bindings) {
		v.Bindings = append(v.Bindings, *pkg.bindings[id])
	}
	for _, s := range pkg.sessions {
		sv := posSessionView{SessionID: s.id, RecipientID: s.recipientID, UserID: s.userID,
			Created: s.created, ExpiresAt: s.expires, State: posSessionUnused}
		switch {
		case !s.used.IsZero():
			used := s.used
			sv.State, sv.UsedAt = posSessionUsed, &used
		case !now.Before(s.expires):
			sv.State = posSessionExpired
		}
		v.Sessions = append(v.Sessions, sv)
	}
	return v
}
