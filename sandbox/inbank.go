package sandbox

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/schemas"
)

// Inbank emulates Inbank's e-POS Partner API v3 (seed 001) for the shops of
// Config.InbankShops, and the customer's side of a session through a page and control routes.
//
// Partner API ("Authorization: Bearer <API key>"; errors are {"message"} as documented):
//
//	POST /partner/v3/shops/{shopUuid}/pos-sessions          201 {uuid, status: "pending", redirectUrl}
//	GET  /partner/v3/shops/{shopUuid}/pos-sessions/{uuid}   the session
//
// Checks, in order: 401 {"message":"unauthorized"} without a bearer key or with one no shop
// has; 404 {"message":"not_found"} for a shop the sandbox does not know (or a session not of
// that shop); 403 {"message":"User is not authorized to access this resource with an explicit
// deny"} for a known shop whose key is another; 400 {"message":"validation_failed",
// "details":[{pointer, message}]} listing every problem, from pos.ValidateSessionRequest (the
// same function the client runs, so the two cannot disagree).
//
// Customer (what redirectUrl leads to): GET /inbank/pay/{uuid} is a small HTML page with the
// order and, while the session is open, buttons that POST /inbank/pay/{uuid} (sign: grant then
// complete; cancel; decline) and then redirect to partnerUrls.returnUrl (cancelUrl after a
// cancel), or back to the page when the session has no partnerUrls.
//
// Control (JSON, no authentication):
//
//	GET  /sandbox/inbank/sessions                           summaries, in creation order
//	GET  /sandbox/inbank/sessions/{uuid}                    everything, callbacks included
//	POST /sandbox/inbank/sessions/{uuid}/{action}           grant | complete | cancel | decline
//	     body (optional): {"callbacks": {"copies": 2, "reorder": true, "skip": false}}
//
// Status model: pending → granted → completed; granted may be skipped (complete from
// pending). pending|granted → cancelled (customer) or declined (Inbank). Any other transition
// is a 409. A session not final at validUntil (inclusive) is expired: the sandbox notices it
// lazily, on any read or action, with its own clock (Config.Clock); there is no timer. The
// request's validUntil is taken as is, even in the past; without one a session lasts
// DefaultInbankSessionLifetime.
//
// Callbacks [ours, see pos/inbank_callback.go]: after each transition (expiry included, when
// noticed) the sandbox POSTs {"posSessionUuid","status","timestamp"} to
// partnerUrls.callbackUrl, if the session has one, signed with the shop's API key in the
// Inbank-Signature header. They go through the sandbox's webhook delivery: 5xx and network
// errors are retried, a 4xx drops the callback, and PUT /sandbox/webhooks/behavior applies to
// them too. An action's "callbacks" option changes what its transition sends:
//   - copies: send that many identical callbacks (default 1);
//   - reorder: hold them back until the session's next callbacks (of a later transition) have
//     been delivered, so those overtake them; held callbacks nothing overtakes are sent after
//     a few seconds (inbankReorderHold) all the same;
//   - skip: send none (and release any held ones: nothing is left to overtake them).
//
// Sessions live in memory only: they do not survive a restart (Config.StateFile does not
// cover them yet).
type Inbank struct {
	s     *Server
	shops map[string]InbankShop // by lower-case UUID; read-only after New

	// reorderHold bounds how long reordered callbacks wait for something to overtake them.
	reorderHold time.Duration

	mu       sync.Mutex // guards everything below and every session
	sessions map[string]*inbankSession
	order    []*inbankSession
}

// Inbank defaults: the seed's example shop, and the key `epcflow dev` gives the engine.
const (
	DefaultInbankShopUUID        = "a93f1f44-d5dd-4469-bfcc-c1de9e969213"
	DefaultInbankAPIKey          = "sandbox-inbank-key"
	DefaultInbankSessionLifetime = time.Hour
)

// InbankShop is a shop the Inbank emulator knows (Config.InbankShops, by shop UUID).
type InbankShop struct {
	// APIKey is the only key that may use the shop; it also signs the shop's callbacks.
	// Several shops may share a key.
	APIKey string `json:"apiKey"`
}

// Inbank's documented error messages.
const (
	inbankUnauthorized = "unauthorized"
	inbankForbidden    = "User is not authorized to access this resource with an explicit deny"
	inbankNotFound     = "not_found"
	inbankInternal     = "internal_server_error"
	inbankInvalid      = "validation_failed" // [ours]: the 400 body is not documented
)

// inbankReorderHold is the default of Inbank.reorderHold.
const inbankReorderHold = 3 * time.Second

// outcomeHeld: a reordered callback waiting for a later one to overtake it.
const outcomeHeld = "held"

// inbankDefaults fills in and checks Config.InbankShops: nil means the default shop. It
// returns the problems found, worded for Config's error (keys are never echoed).
func (c *Config) inbankDefaults() []string {
	if c.InbankShops == nil {
		c.InbankShops = map[string]InbankShop{DefaultInbankShopUUID: {APIKey: DefaultInbankAPIKey}}
		return nil
	}
	shops := make(map[string]InbankShop, len(c.InbankShops))
	var problems []string
	for _, id := range sortedKeys(c.InbankShops) {
		shop := c.InbankShops[id]
		switch {
		case !pos.IsUUID(id):
			problems = append(problems, "InbankShops: "+quoteShort(id)+" is not a UUID")
		case shop.APIKey == "":
			problems = append(problems, "InbankShops["+id+"]: APIKey required")
		}
		shops[strings.ToLower(id)] = shop
	}
	c.InbankShops = shops // a copy: the caller's map may change later
	return problems
}

// inbankSession is one POS session. Guarded by Inbank.mu.
type inbankSession struct {
	uuid, shopUUID string
	apiKey         string // the shop's key, for signing callbacks
	status         pos.InbankStatus
	req            pos.InbankSessionRequest
	raw            json.RawMessage
	redirectURL    string
	created        time.Time
	updated        time.Time
	validUntil     time.Time
	creditApp      string
	creditContract string

	callbacks []*inbankCallbackRecord
	hold      *inbankHold // reordered callbacks not sent yet
}

// inbankCallbackRecord is one callback (one of an action's copies) and its delivery.
type inbankCallbackRecord struct {
	Status    pos.InbankStatus `json:"status"`
	Timestamp int64            `json:"timestamp"`
	Copy      int              `json:"copy"` // 1-based among the copies one transition sent
	Queued    time.Time        `json:"queued"`
	Reordered bool             `json:"reordered,omitempty"`
	Attempts  []webhookAttempt `json:"attempts"`
	Outcome   string           `json:"outcome"`

	sends   int            // deliverer copies queued (the webhook behavior may add some)
	settled map[int]string // deliverer copy → outcome
}

// settle records a deliverer copy's outcome, as webhookRecord.settle does.
func (r *inbankCallbackRecord) settle(copy int, outcome string) {
	if r.settled == nil {
		r.settled = map[int]string{}
	}
	r.settled[copy] = outcome
	if outcome == outcomeDelivered {
		r.Outcome = outcomeDelivered
		return
	}
	if r.Outcome == outcomeDelivered || len(r.settled) < r.sends {
		return
	}
	r.Outcome = outcome
}

// inbankHold is a session's reordered callbacks, waiting for later ones to overtake them.
type inbankHold struct {
	items    []inbankHeld
	detached chan struct{} // closed when a later transition's callbacks take charge of release
	released bool
	// remaining counts the overtaking callbacks' deliverer copies not yet settled.
	remaining int
}

type inbankHeld struct {
	rec *inbankCallbackRecord
	dl  *delivery
}

// InbankCallbacks is the "callbacks" option of a control action.
type InbankCallbacks struct {
	Copies  int  `json:"copies,omitempty"`
	Reorder bool `json:"reorder,omitempty"`
	Skip    bool `json:"skip,omitempty"`
}

// Inbank routes. Partner API patterns double as fault-rule route names.
const (
	routeInbankCreate  = "POST /partner/v3/shops/{shopUuid}/pos-sessions"
	routeInbankGet     = "GET /partner/v3/shops/{shopUuid}/pos-sessions/{uuid}"
	routeInbankPage    = "GET /inbank/pay/{uuid}"
	routeInbankPageAct = "POST /inbank/pay/{uuid}"
	routeInbankList    = "GET /sandbox/inbank/sessions"
	routeInbankControl = "GET /sandbox/inbank/sessions/{uuid}"
	routeInbankAction  = "POST /sandbox/inbank/sessions/{uuid}/{action}"
)

// inbankPagePath is where redirectUrl points: {PublicURL}{inbankPagePath}{uuid}.
const inbankPagePath = "/inbank/pay/"

func newInbank(s *Server) *Inbank {
	return &Inbank{s: s, shops: s.cfg.InbankShops, reorderHold: inbankReorderHold, sessions: map[string]*inbankSession{}}
}

// mountInbank creates the Inbank emulator and registers its routes.
func (s *Server) mountInbank() *Inbank {
	ib := newInbank(s)
	s.handle(routeInbankCreate, routePlatform, inbankHandler(ib.create), nil)
	s.handle(routeInbankGet, routePlatform, inbankHandler(ib.get), nil)
	s.handle(routeInbankPage, routeExplicit, http.HandlerFunc(ib.page), nil)
	s.handle(routeInbankPageAct, routeExplicit, http.HandlerFunc(ib.pageAct), nil)
	s.handle(routeInbankList, routeExplicit, handlerFunc(ib.list), nil)
	s.handle(routeInbankControl, routeExplicit, handlerFunc(ib.control), nil)
	s.handle(routeInbankAction, routeExplicit, handlerFunc(ib.act), nil)
	return ib
}

// inbankError is a Partner API error reply: {"message", "details"?}.
type inbankError struct {
	Status  int               `json:"-"`
	Message string            `json:"message"`
	Details []schemas.Problem `json:"details,omitempty"`
}

func (e *inbankError) Error() string { return fmt.Sprintf("%d %s", e.Status, e.Message) }

// inbankHandler writes a returned error Inbank's way; anything but an *inbankError is a 500.
type inbankHandler func(w http.ResponseWriter, r *http.Request) error

func (h inbankHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	err := h(w, r)
	if err == nil {
		return
	}
	var ie *inbankError
	if !errors.As(err, &ie) {
		ie = &inbankError{Status: http.StatusInternalServerError, Message: inbankInternal}
	}
	writeJSON(w, ie.Status, ie)
}

// authorize applies the API's checks before the body: key, shop, the key's right to the shop.
func (ib *Inbank) authorize(r *http.Request) (string, InbankShop, error) {
	key, ok := bearerToken(r)
	if !ok || !ib.keyKnown(key) {
		return "", InbankShop{}, &inbankError{Status: http.StatusUnauthorized, Message: inbankUnauthorized}
	}
	id := strings.ToLower(r.PathValue("shopUuid"))
	shop, ok := ib.shops[id]
	if !ok {
		return "", InbankShop{}, &inbankError{Status: http.StatusNotFound, Message: inbankNotFound}
	}
	if subtle.ConstantTimeCompare([]byte(shop.APIKey), []byte(key)) != 1 {
		return "", InbankShop{}, &inbankError{Status: http.StatusForbidden, Message: inbankForbidden}
	}
	return id, shop, nil
}

// keyKnown compares key with every shop's key, in constant time each and without stopping
// early.
func (ib *Inbank) keyKnown(key string) bool {
	found := 0
	for _, shop := range ib.shops {
		found |= subtle.ConstantTimeCompare([]byte(shop.APIKey), []byte(key))
	}
	return found == 1
}

func bearerToken(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// now is the sandbox clock in UTC, to the second (what callbacks carry).
func (ib *Inbank) now() time.Time { return ib.s.now().UTC().Truncate(time.Second) }

func (ib *Inbank) create(w http.ResponseWriter, r *http.Request) error {
	shopID, shop, err := ib.authorize(r)
	if err != nil {
		return err
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return &inbankError{Status: http.StatusUnsupportedMediaType, Message: "unsupported_media_type"}
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxJSONBody))
	if err != nil {
		return &inbankError{Status: http.StatusRequestEntityTooLarge, Message: "request_too_large"}
	}
	if err := pos.ValidateSessionRequest(body); err != nil {
		ps := schemas.Problems(err)
		if ps == nil {
			return err
		}
		return &inbankError{Status: http.StatusBadRequest, Message: inbankInvalid, Details: ps}
	}
	var req pos.InbankSessionRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return fmt.Errorf("decode a valid body: %w", err) // a bug: the schema let it through
	}
	now := ib.now()
	sess := &inbankSession{
		uuid:     newUUID(),
		shopUUID: shopID,
		apiKey:   shop.APIKey,
		status:   pos.StatusPending,
		req:      req,
		raw:      body,
		created:  now,
		updated:  now,
	}
	sess.redirectURL = ib.s.baseURL(r) + inbankPagePath + sess.uuid
	sess.validUntil = req.ValidUntil.UTC()
	if req.ValidUntil.IsZero() {
		sess.validUntil = now.Add(DefaultInbankSessionLifetime)
	}
	ib.mu.Lock()
	ib.sessions[sess.uuid] = sess
	ib.order = append(ib.order, sess)
	ib.mu.Unlock()
	ib.s.log.Info("inbank session created", "session", sess.uuid, "shop", shopID)
	writeJSON(w, http.StatusCreated, pos.InbankSessionCreated{UUID: sess.uuid, Status: sess.status, RedirectURL: sess.redirectURL})
	return nil
}

// inbankSessionView is a session as the Partner API's GET shows it.
type inbankSessionView struct {
	UUID                  string           `json:"uuid"`
	Status                pos.InbankStatus `json:"status"`
	ProductCode           string           `json:"productCode"`
	Currency              string           `json:"currency"`
	ValidUntil            time.Time        `json:"validUntil"`
	RedirectURL           string           `json:"redirectUrl"`
	CreditApplicationUUID string           `json:"creditApplicationUuid,omitempty"`
	CreditContractUUID    string           `json:"creditContractUuid,omitempty"`
	CreatedAt             time.Time        `json:"createdAt"`
	UpdatedAt             time.Time        `json:"updatedAt"`
}

// view renders sess for the partner. Caller holds ib.mu.
func (sess *inbankSession) view() inbankSessionView {
	return inbankSessionView{
		UUID:                  sess.uuid,
		Status:                sess.status,
		ProductCode:           sess.req.ProductCode,
		Currency:              sess.req.Currency,
		ValidUntil:            sess.validUntil,
		RedirectURL:           sess.redirectURL,
		CreditApplicationUUID: sess.creditApp,
		CreditContractUUID:    sess.creditContract,
		CreatedAt:             sess.created,
		UpdatedAt:             sess.updated,
	}
}

func (ib *Inbank) get(w http.ResponseWriter, r *http.Request) error {
	shopID, _, err := ib.authorize(r)
	if err != nil {
		return err
	}
	ib.mu.Lock()
	defer ib.mu.Unlock()
	sess := ib.sessions[strings.ToLower(r.PathValue("uuid"))]
	if sess == nil || sess.shopUUID != shopID {
		return &inbankError{Status: http.StatusNotFound, Message: inbankNotFound}
	}
	ib.expireIfDue(sess)
	writeJSON(w, http.StatusOK, sess.view())
	return nil
}

// lookup finds a session for the control routes and the page, noticing its expiry. Caller
// holds ib.mu.
func (ib *Inbank) lookup(id string) *inbankSession {
	sess := ib.sessions[strings.ToLower(id)]
	if sess != nil {
		ib.expireIfDue(sess)
	}
	return sess
}

// expireIfDue expires a session still open at validUntil, and sends its callbacks. Caller
// holds ib.mu.
func (ib *Inbank) expireIfDue(sess *inbankSession) {
	if sess.status.IsFinal() || ib.s.now().Before(sess.validUntil) {
		return
	}
	sess.status = pos.StatusExpired
	sess.updated = sess.validUntil
	ib.s.log.Info("inbank session expired", "session", sess.uuid)
	ib.sendCallbacks(sess, InbankCallbacks{})
}

// inbankActions are the control actions: the status each leads to, and from which.
var inbankActions = map[string]struct {
	to   pos.InbankStatus
	from []pos.InbankStatus
}{
	"grant":    {pos.StatusGranted, []pos.InbankStatus{pos.StatusPending}},
	"complete": {pos.StatusCompleted, []pos.InbankStatus{pos.StatusPending, pos.StatusGranted}},
	"cancel":   {pos.StatusCancelled, []pos.InbankStatus{pos.StatusPending, pos.StatusGranted}},
	"decline":  {pos.StatusDeclined, []pos.InbankStatus{pos.StatusPending, pos.StatusGranted}},
}

// transition applies action to sess and sends its callbacks. Caller holds ib.mu.
func (ib *Inbank) transition(sess *inbankSession, action string, cb InbankCallbacks) error {
	a, ok := inbankActions[action]
	if !ok {
		return notFound("unknown action %s: grant, complete, cancel or decline", quoteShort(action))
	}
	ib.expireIfDue(sess)
	if !slices.Contains(a.from, sess.status) {
		return conflict("session %s is %s: cannot %s it", sess.uuid, sess.status, action)
	}
	sess.status = a.to
	sess.updated = ib.s.now().UTC()
	switch a.to {
	case pos.StatusGranted, pos.StatusCompleted:
		if sess.creditApp == "" {
			sess.creditApp = newUUID()
		}
		if sess.creditContract == "" {
			sess.creditContract = newUUID()
		}
	case pos.StatusDeclined:
		if sess.creditApp == "" {
			sess.creditApp = newUUID() // the application Inbank denied
		}
	}
	ib.s.log.Info("inbank session "+string(a.to), "session", sess.uuid)
	ib.sendCallbacks(sess, cb)
	return nil
}

// sendCallbacks sends the callbacks of sess's current status as cb says. Caller holds ib.mu.
func (ib *Inbank) sendCallbacks(sess *inbankSession, cb InbankCallbacks) {
	url := ""
	if sess.req.PartnerURLs != nil {
		url = sess.req.PartnerURLs.CallbackURL
	}
	if url == "" {
		return
	}
	if cb.Skip {
		if h := sess.hold; h != nil {
			sess.hold = nil
			close(h.detached)
			ib.release(sess, h)
		}
		return
	}
	now := ib.now()
	body := pos.NewCallbackBody(sess.uuid, sess.status, now)
	header := http.Header{
		"Content-Type":            {"application/json"},
		pos.HeaderInbankSignature: {pos.SignCallback(sess.apiKey, body, strconv.FormatInt(now.Unix(), 10))},
	}
	copies := max(cb.Copies, 1)
	items := make([]inbankHeld, copies)
	for i := range items {
		rec := &inbankCallbackRecord{Status: sess.status, Timestamp: now.Unix(), Copy: i + 1, Queued: now,
			Reordered: cb.Reorder, Attempts: []webhookAttempt{}, Outcome: outcomePending}
		sess.callbacks = append(sess.callbacks, rec)
		items[i] = inbankHeld{rec: rec, dl: &delivery{
			url:    url,
			header: header,
			body:   body,
			what:   "inbank callback " + string(sess.status) + " " + sess.uuid,
		}}
	}
	if cb.Reorder {
		ib.holdBack(sess, items)
		return
	}
	// These overtake whatever is held: the held ones go once these are settled.
	h := sess.hold
	if h != nil {
		sess.hold = nil
		close(h.detached)
	}
	total := 0
	for _, it := range items {
		total += ib.deliver(sess, it, h)
	}
	if h != nil {
		h.remaining = total
		if total == 0 {
			ib.release(sess, h)
		}
	}
}

// deliver queues one callback; once settled, each of its copies counts down h (if any).
// Caller holds ib.mu.
func (ib *Inbank) deliver(sess *inbankSession, it inbankHeld, h *inbankHold) int {
	rec := it.rec
	it.dl.onAttempt = func(a webhookAttempt) {
		ib.mu.Lock()
		rec.Attempts = append(rec.Attempts, a)
		ib.mu.Unlock()
	}
	it.dl.onSettled = func(copy int, outcome string) {
		ib.mu.Lock()
		defer ib.mu.Unlock()
		rec.settle(copy, outcome)
		if h != nil {
			h.remaining--
			if h.remaining == 0 {
				ib.release(sess, h)
			}
		}
	}
	rec.Outcome = outcomePending
	rec.sends = ib.s.hooks.send(it.dl)
	if rec.sends == 0 {
		rec.Outcome = outcomeAbandoned
	}
	return rec.sends
}

// holdBack keeps items until a later transition's callbacks overtake them, or until
// ib.reorderHold passes with none. Caller holds ib.mu.
func (ib *Inbank) holdBack(sess *inbankSession, items []inbankHeld) {
	for _, it := range items {
		it.rec.Outcome = outcomeHeld
	}
	if h := sess.hold; h != nil {
		h.items = append(h.items, items...)
		return
	}
	h := &inbankHold{items: items, detached: make(chan struct{})}
	sess.hold = h
	wait := ib.reorderHold
	started := ib.s.goBackground(func(ctx context.Context) {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-h.detached:
		case <-ctx.Done():
			ib.mu.Lock()
			ib.abandon(h)
			ib.mu.Unlock()
		case <-t.C:
			ib.mu.Lock()
			if sess.hold == h {
				sess.hold = nil
				close(h.detached)
			}
			ib.release(sess, h)
			ib.mu.Unlock()
		}
	})
	if !started {
		sess.hold = nil
		close(h.detached)
		ib.release(sess, h)
	}
}

// release sends held callbacks, once. Caller holds ib.mu.
func (ib *Inbank) release(sess *inbankSession, h *inbankHold) {
	if h.released {
		return
	}
	h.released = true
	for _, it := range h.items {
		ib.deliver(sess, it, nil)
	}
}

// abandon marks held callbacks as never sent (the sandbox closed). Caller holds ib.mu.
func (ib *Inbank) abandon(h *inbankHold) {
	if h.released {
		return
	}
	h.released = true
	for _, it := range h.items {
		it.rec.Outcome = outcomeAbandoned
	}
}

// inbankControlView is a session as the control API shows it.
type inbankControlView struct {
	inbankSessionView
	ShopUUID    string                  `json:"shopUuid"`
	CallbackURL string                  `json:"callbackUrl,omitempty"`
	Request     json.RawMessage         `json:"request,omitempty"`
	Callbacks   []*inbankCallbackRecord `json:"callbacks"`
}

// controlView renders sess for the control API. Caller holds ib.mu.
func (sess *inbankSession) controlView(full bool) inbankControlView {
	v := inbankControlView{inbankSessionView: sess.view(), ShopUUID: sess.shopUUID, Callbacks: sess.callbacks}
	if sess.req.PartnerURLs != nil {
		v.CallbackURL = sess.req.PartnerURLs.CallbackURL
	}
	if full {
		v.Request = sess.raw
	}
	if v.Callbacks == nil {
		v.Callbacks = []*inbankCallbackRecord{}
	}
	return v
}

func (ib *Inbank) list(w http.ResponseWriter, r *http.Request) error {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	out := make([]inbankControlView, 0, len(ib.order))
	for _, sess := range ib.order {
		ib.expireIfDue(sess)
		out = append(out, sess.controlView(false))
	}
	body, err := json.Marshal(out)
	if err != nil {
		return err
	}
	writeRawJSON(w, http.StatusOK, body)
	return nil
}

func (ib *Inbank) control(w http.ResponseWriter, r *http.Request) error {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	sess := ib.lookup(r.PathValue("uuid"))
	if sess == nil {
		return notFound("inbank session %s not found", quoteShort(r.PathValue("uuid")))
	}
	// Encoded under the lock: the records change as callbacks are delivered.
	body, err := json.Marshal(sess.controlView(true))
	if err != nil {
		return err
	}
	writeRawJSON(w, http.StatusOK, body)
	return nil
}

// act is POST /sandbox/inbank/sessions/{uuid}/{action}.
func (ib *Inbank) act(w http.ResponseWriter, r *http.Request) error {
	action := r.PathValue("action")
	if _, ok := inbankActions[action]; !ok {
		return notFound("unknown action %s: grant, complete, cancel or decline", quoteShort(action))
	}
	cb, err := readInbankCallbacks(r)
	if err != nil {
		return err
	}
	ib.mu.Lock()
	defer ib.mu.Unlock()
	sess := ib.lookup(r.PathValue("uuid"))
	if sess == nil {
		return notFound("inbank session %s not found", quoteShort(r.PathValue("uuid")))
	}
	if err := ib.transition(sess, action, cb); err != nil {
		return err
	}
	body, err := json.Marshal(sess.controlView(false))
	if err != nil {
		return err
	}
	writeRawJSON(w, http.StatusOK, body)
	return nil
}

// readInbankCallbacks reads an action's optional body {"callbacks": {...}}.
func readInbankCallbacks(r *http.Request) (InbankCallbacks, error) {
	var cb InbankCallbacks
	body, err := readJSON(r, true)
	if err != nil || body == nil {
		return cb, err
	}
	var ps problems
	obj, ok := decodeObject(body, "", &ps)
	if !ok {
		return cb, invalid("invalid action body", ps)
	}
	var raw json.RawMessage
	decodeFields(obj, "", &ps, map[string]any{"callbacks": &raw})
	if raw != nil {
		if o, ok := decodeObject(raw, "/callbacks", &ps); ok {
			decodeFields(o, "/callbacks", &ps, map[string]any{"copies": &cb.Copies, "reorder": &cb.Reorder, "skip": &cb.Skip})
		}
	}
	if cb.Copies < 0 || cb.Copies > 10 {
		ps.add("/callbacks/copies", "must be between 1 and 10 (0 means 1)")
	}
	if cb.Skip && (cb.Copies > 1 || cb.Reorder) {
		ps.add("/callbacks/skip", "contradicts copies and reorder: skip sends nothing")
	}
	if len(ps) > 0 {
		return cb, invalid("invalid action body", ps)
	}
	return cb, nil
}

// inbankPage is the customer's e-POS page. html/template escapes everything it shows.
var inbankPage = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Inbank e-POS (sandbox)</title>
<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}td{padding:.2em 1em .2em 0}</style></head>
<body>
<h1>Inbank e-POS <small>(epcflow sandbox)</small></h1>
<p>{{.Description}}</p>
<table>
{{range .Assets}}<tr><td>{{.ModelName}}</td><td>{{.NetPrice}} {{$.Currency}}</td></tr>
{{end}}<tr><td>Period</td><td>{{.Period}} months</td></tr>
</table>
<p>Session <code>{{.UUID}}</code> is <strong id="status">{{.Status}}</strong>; valid until {{.ValidUntil}}.</p>
{{if .Open}}<form method="post">
<button name="action" value="complete">Sign the contract</button>
<button name="action" value="cancel">Cancel</button>
<button name="action" value="decline">Decline (as Inbank)</button>
</form>{{end}}
</body></html>
`))

type inbankPageData struct {
	UUID, Status, Description, Currency, ValidUntil string
	Assets                                          []pos.InbankAsset
	Period                                          int
	Open                                            bool
}

// page is GET /inbank/pay/{uuid}: where redirectUrl leads the customer.
func (ib *Inbank) page(w http.ResponseWriter, r *http.Request) {
	ib.mu.Lock()
	sess := ib.lookup(r.PathValue("uuid"))
	var d inbankPageData
	if sess != nil {
		d = inbankPageData{
			UUID:        sess.uuid,
			Status:      string(sess.status),
			Description: sess.req.Purchase.Description,
			Currency:    sess.req.Currency,
			ValidUntil:  sess.validUntil.Format(time.RFC3339),
			Assets:      sess.req.RentalApplication.Assets,
			Period:      sess.req.RentalApplication.Period,
			Open:        !sess.status.IsFinal(),
		}
	}
	ib.mu.Unlock()
	if sess == nil {
		http.Error(w, "unknown session", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = inbankPage.Execute(w, d)
}

// pageAct is the page's form: the customer signs (grant, then complete), cancels, or Inbank
// declines; then the browser goes back to the partner.
func (ib *Inbank) pageAct(w http.ResponseWriter, r *http.Request) {
	action := r.PostFormValue("action")
	ib.mu.Lock()
	sess := ib.lookup(r.PathValue("uuid"))
	var err error
	switch {
	case sess == nil:
		ib.mu.Unlock()
		http.Error(w, "unknown session", http.StatusNotFound)
		return
	case action == "complete" && sess.status == pos.StatusPending:
		if err = ib.transition(sess, "grant", InbankCallbacks{}); err == nil {
			err = ib.transition(sess, "complete", InbankCallbacks{})
		}
	case action == "complete" || action == "cancel" || action == "decline":
		err = ib.transition(sess, action, InbankCallbacks{})
	default:
		err = errorf(http.StatusBadRequest, codeInvalidRequest, "action must be complete, cancel or decline")
	}
	next := inbankPagePath + sess.uuid
	if u := sess.req.PartnerURLs; err == nil && u != nil {
		next = u.ReturnURL
		if action == "cancel" {
			next = u.CancelURL
		}
	}
	ib.mu.Unlock()
	var ae *apiError
	if errors.As(err, &ae) {
		http.Error(w, ae.Message, ae.Status)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}
