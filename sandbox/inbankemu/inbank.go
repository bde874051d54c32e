// Package inbankemu emulates Inbank's e-POS Partner API v3 (seed 001) for the sandbox's shops,
// and the customer's side of a session through a page and control routes.
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
// lazily, on any read or action, with its own clock; there is no timer. The request's
// validUntil is taken as is, even in the past; without one a session lasts
// DefaultSessionLifetime.
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
//     a few seconds (defaultReorderHold) all the same;
//   - skip: send none (and release any held ones: nothing is left to overtake them).
//
// Sessions live in memory only: they do not survive a restart (the state file does not cover
// them yet).
package inbankemu

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/sandbox/internal/core"
	"github.com/epcflow/epcflow/schemas"
)

// Defaults: the seed's example shop, and the key `epcflow dev` gives the engine.
const (
	DefaultShopUUID        = "a93f1f44-d5dd-4469-bfcc-c1de9e969213"
	DefaultAPIKey          = "sandbox-inbank-key"
	DefaultSessionLifetime = time.Hour
)

// Shop is a shop the emulator knows.
type Shop struct {
	// APIKey is the only key that may use the shop; it also signs the shop's callbacks.
	// Several shops may share a key.
	APIKey string `json:"apiKey"`
}

// CheckShops returns shops keyed by lower-case UUID (a copy: the caller's map may change
// later; nil means DefaultShopUUID with DefaultAPIKey) and the problems found, worded for a
// config error under name (keys are never echoed).
func CheckShops(name string, shops map[string]Shop) (map[string]Shop, []string) {
	if shops == nil {
		return map[string]Shop{DefaultShopUUID: {APIKey: DefaultAPIKey}}, nil
	}
	out := make(map[string]Shop, len(shops))
	var problems []string
	for _, id := range core.SortedKeys(shops) {
		shop := shops[id]
		switch {
		case !pos.IsUUID(id):
			problems = append(problems, name+": "+core.QuoteShort(id)+" is not a UUID")
		case shop.APIKey == "":
			problems = append(problems, name+"["+id+"]: APIKey required")
		}
		out[strings.ToLower(id)] = shop
	}
	return out, problems
}

// Inbank is the emulator.
type Inbank struct {
	rt    *core.Runtime
	shops map[string]Shop // by lower-case UUID; read-only

	// reorderHold bounds how long reordered callbacks wait for something to overtake them.
	reorderHold time.Duration

	mu       sync.Mutex // guards everything below and every session
	sessions map[string]*session
	order    []*session
}

// defaultReorderHold is the default of Inbank.reorderHold.
const defaultReorderHold = 3 * time.Second

// Inbank's documented error messages.
const (
	msgUnauthorized = "unauthorized"
	msgForbidden    = "User is not authorized to access this resource with an explicit deny"
	msgNotFound     = "not_found"
	msgInternal     = "internal_server_error"
	msgInvalid      = "validation_failed" // [ours]: the 400 body is not documented
)

// Routes. Partner API patterns double as fault-rule route names.
const (
	RouteCreate  = "POST /partner/v3/shops/{shopUuid}/pos-sessions"
	RouteGet     = "GET /partner/v3/shops/{shopUuid}/pos-sessions/{uuid}"
	RoutePage    = "GET /inbank/pay/{uuid}"
	RoutePageAct = "POST /inbank/pay/{uuid}"
	RouteList    = "GET /sandbox/inbank/sessions"
	RouteControl = "GET /sandbox/inbank/sessions/{uuid}"
	RouteAction  = "POST /sandbox/inbank/sessions/{uuid}/{action}"
)

// pagePath is where redirectUrl points: {PublicURL}{pagePath}{uuid}.
const pagePath = "/inbank/pay/"

// New builds the emulator for shops (as CheckShops returns them) and registers its routes.
func New(rt *core.Runtime, shops map[string]Shop) *Inbank {
	ib := &Inbank{rt: rt, shops: shops, reorderHold: defaultReorderHold, sessions: map[string]*session{}}
	rt.Handle(RouteCreate, core.RoutePlatform, apiHandler(ib.create), nil)
	rt.Handle(RouteGet, core.RoutePlatform, apiHandler(ib.get), nil)
	rt.Handle(RoutePage, core.RouteExplicit, http.HandlerFunc(ib.page), nil)
	rt.Handle(RoutePageAct, core.RouteExplicit, http.HandlerFunc(ib.pageAct), nil)
	rt.Handle(RouteList, core.RouteExplicit, core.HandlerFunc(ib.list), nil)
	rt.Handle(RouteControl, core.RouteExplicit, core.HandlerFunc(ib.control), nil)
	rt.Handle(RouteAction, core.RouteExplicit, core.HandlerFunc(ib.act), nil)
	return ib
}

// apiError is a Partner API error reply: {"message", "details"?}.
type apiError struct {
	Status  int               `json:"-"`
	Message string            `json:"message"`
	Details []schemas.Problem `json:"details,omitempty"`
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.Status, e.Message) }

// apiHandler writes a returned error Inbank's way; anything but an *apiError is a 500.
type apiHandler func(w http.ResponseWriter, r *http.Request) error

func (h apiHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	err := h(w, r)
	if err == nil {
		return
	}
	var ie *apiError
	if !errors.As(err, &ie) {
		ie = &apiError{Status: http.StatusInternalServerError, Message: msgInternal}
	}
	core.WriteJSON(w, ie.Status, ie)
}

// authorize applies the API's checks before the body: key, shop, the key's right to the shop.
func (ib *Inbank) authorize(r *http.Request) (string, Shop, error) {
	key, ok := core.BearerToken(r)
	if !ok || !ib.keyKnown(key) {
		return "", Shop{}, &apiError{Status: http.StatusUnauthorized, Message: msgUnauthorized}
	}
	id := strings.ToLower(r.PathValue("shopUuid"))
	shop, ok := ib.shops[id]
	if !ok {
		return "", Shop{}, &apiError{Status: http.StatusNotFound, Message: msgNotFound}
	}
	if subtle.ConstantTimeCompare([]byte(shop.APIKey), []byte(key)) != 1 {
		return "", Shop{}, &apiError{Status: http.StatusForbidden, Message: msgForbidden}
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

// now is the sandbox clock in UTC, to the second (what callbacks carry).
func (ib *Inbank) now() time.Time { return ib.rt.Now().UTC().Truncate(time.Second) }

func (ib *Inbank) create(w http.ResponseWriter, r *http.Request) error {
	shopID, shop, err := ib.authorize(r)
	if err != nil {
		return err
	}
	req, body, err := readSessionRequest(r)
	if err != nil {
		return err
	}
	now := ib.now()
	sess := &session{
		uuid:     core.NewUUID(),
		shopUUID: shopID,
		apiKey:   shop.APIKey,
		status:   pos.StatusPending,
		req:      req,
		raw:      body,
		created:  now,
		updated:  now,
	}
	sess.redirectURL = ib.rt.BaseURL(r) + pagePath + sess.uuid
	sess.validUntil = req.ValidUntil.UTC()
	if req.ValidUntil.IsZero() {
		sess.validUntil = now.Add(DefaultSessionLifetime)
	}
	ib.mu.Lock()
	ib.sessions[sess.uuid] = sess
	ib.order = append(ib.order, sess)
	ib.mu.Unlock()
	ib.rt.Log.Info("inbank session created", "session", sess.uuid, "shop", shopID)
	core.WriteJSON(w, http.StatusCreated, pos.InbankSessionCreated{UUID: sess.uuid, Status: sess.status, RedirectURL: sess.redirectURL})
	return nil
}

// readSessionRequest reads and checks a create body, answering Inbank's errors.
func readSessionRequest(r *http.Request) (pos.InbankSessionRequest, []byte, error) {
	var req pos.InbankSessionRequest
	if !core.IsJSONType(r.Header.Get("Content-Type")) {
		return req, nil, &apiError{Status: http.StatusUnsupportedMediaType, Message: "unsupported_media_type"}
	}
	body, err := core.ReadBody(r, core.MaxJSONBody, "body")
	if err != nil {
		return req, nil, &apiError{Status: http.StatusRequestEntityTooLarge, Message: "request_too_large"}
	}
	if err := pos.ValidateSessionRequest(body); err != nil {
		ps := schemas.Problems(err)
		if ps == nil {
			return req, nil, err
		}
		return req, nil, &apiError{Status: http.StatusBadRequest, Message: msgInvalid, Details: ps}
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return req, nil, fmt.Errorf("decode a valid body: %w", err) // a bug: the schema let it through
	}
	return req, body, nil
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
		return &apiError{Status: http.StatusNotFound, Message: msgNotFound}
	}
	ib.expireIfDue(sess)
	core.WriteJSON(w, http.StatusOK, sess.view())
	return nil
}
