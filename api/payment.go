package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"

	"github.com/epcflow/epcflow/activities"
	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/schemas"
	"github.com/epcflow/epcflow/starter"
	"github.com/epcflow/epcflow/workflows"
)

// The payment flow's routes: Inbank e-POS payment sessions and Inbank's callbacks.
//
//	POST /v1/payment-sessions             seed 001 body plus "shopUuid" → 201 {id, posSessionUuid, redirectUrl, status}
//	GET  /v1/payment-sessions/:id         the session (status query) → 200, or 404
//	POST /webhooks/inbank?session={id}    a signed Inbank callback → 202
//
// The body must carry partnerUrls (returnUrl, cancelUrl): the engine sets its callbackUrl
// (replacing the caller's) so that Inbank's callbacks reach the session's workflow.

// Paths of the payment routes.
const (
	PaymentSessionsPath = "/v1/payment-sessions"
	InbankCallbackPath  = "/webhooks/inbank"
)

// IdempotencyKeyHeader names the client's key for POST /v1/payment-sessions: the same key
// answers with the same session instead of creating another, so a client whose answer was
// lost (a timeout, a 503) can ask again safely.
const IdempotencyKeyHeader = "Idempotency-Key"

// maxPaymentBody bounds a payment session request and an Inbank callback.
const maxPaymentBody = 1 << 20

// paymentCreateTimeout bounds POST /v1/payment-sessions: Inbank's answer with the create
// retries.
const paymentCreateTimeout = 60 * time.Second

// PaymentEngine runs payment sessions; *starter.Starter satisfies it. Errors wrap the
// starter package's sentinels and keep the workflow's application errors.
type PaymentEngine interface {
	StartPayment(ctx context.Context, in workflows.PaymentInput) (workflows.PaymentCreated, error)
	PaymentStatus(ctx context.Context, id string) (workflows.PaymentStatus, error)
	SignalPayment(ctx context.Context, id string, cb workflows.InbankCallback) error
	PaymentRunning(ctx context.Context, id string) bool
}

var _ PaymentEngine = (*starter.Starter)(nil)

// Payments configures the payment routes.
type Payments struct {
	Engine PaymentEngine
	// APIKey is the Inbank API key, used here only to verify callbacks.
	APIKey string
	// CallbackBaseURL is our public base URL as Inbank reaches it; callbacks go to
	// {CallbackBaseURL}/webhooks/inbank?session={id}.
	CallbackBaseURL string
}

func (p *Payments) check() error {
	var missing []string
	if p.Engine == nil {
		missing = append(missing, "Engine")
	}
	if p.APIKey == "" {
		missing = append(missing, "APIKey")
	}
	if u, err := url.Parse(p.CallbackBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		missing = append(missing, "CallbackBaseURL (an absolute http(s) URL)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("api: Payments: missing %s", strings.Join(missing, ", "))
	}
	return nil
}

type paymentRoutes struct{ cfg Payments }

// mountPayments adds the payment routes: sessions behind the operator token, callbacks
// public (they carry Inbank's signature).
func mountPayments(public, operator gin.IRoutes, cfg Payments) error {
	if err := cfg.check(); err != nil {
		return err
	}
	h := &paymentRoutes{cfg: cfg}
	operator.POST(PaymentSessionsPath, h.create)
	operator.GET(PaymentSessionsPath+"/:id", h.get)
	public.POST(InbankCallbackPath, h.callback)
	return nil
}

// prepare splits the caller's body into the shop and the Inbank request, with our
// callbackUrl, and reports every problem at once.
func (h *paymentRoutes) prepare(body []byte, id string) (string, []byte, []schemas.Problem) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil || doc == nil {
		return "", nil, []schemas.Problem{{Pointer: "", Message: "must be a JSON object"}}
	}
	var ps []schemas.Problem
	// Decode stops after the first value: whatever follows it would be silently dropped.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		ps = append(ps, schemas.Problem{Pointer: "", Message: "invalid JSON: unexpected data after the JSON object"})
	}
	shop, _ := doc["shopUuid"].(string)
	switch {
	case doc["shopUuid"] == nil:
		ps = append(ps, schemas.Problem{Pointer: "/shopUuid", Message: "is required"})
	case !pos.IsUUID(shop):
		ps = append(ps, schemas.Problem{Pointer: "/shopUuid", Message: "must be a UUID"})
	}
	delete(doc, "shopUuid")
	if doc["partnerUrls"] == nil {
		ps = append(ps, schemas.Problem{Pointer: "/partnerUrls",
			Message: "is required here: returnUrl and cancelUrl; the engine sets callbackUrl to follow the session"})
	}
	req, err := json.Marshal(doc)
	if err != nil {
		return "", nil, append(ps, schemas.Problem{Pointer: "", Message: "cannot encode: " + err.Error()})
	}
	// The caller's own body is validated first, so every pointer is into what they sent.
	ps = append(ps, schemas.Problems(pos.ValidateSessionRequest(req))...)
	if len(ps) > 0 {
		return "", nil, ps
	}
	urls, _ := doc["partnerUrls"].(map[string]any)
	urls["callbackUrl"] = strings.TrimRight(h.cfg.CallbackBaseURL, "/") + InbankCallbackPath + "?session=" + url.QueryEscape(id)
	req, err = json.Marshal(doc)
	if err != nil {
		return "", nil, []schemas.Problem{{Pointer: "", Message: "cannot encode: " + err.Error()}}
	}
	return shop, req, nil
}

func (h *paymentRoutes) create(c *gin.Context) {
	if !requireJSON(c) {
		return
	}
	body, ok := readBody(c, maxPaymentBody)
	if !ok {
		return
	}
	id, digest := uuid.NewString(), ""
	key := c.GetHeader(IdempotencyKeyHeader)
	if key != "" {
		if !validIdempotencyKey(key) {
			invalid(c, "invalid payment session request",
				[]schemas.Problem{{Pointer: "", Message: IdempotencyKeyHeader + " header: 1 to 255 visible ASCII characters"}})
			return
		}
		id, digest = keyedPaymentID(key), requestDigest(body)
	}
	shop, req, ps := h.prepare(body, id)
	if len(ps) > 0 {
		invalid(c, "invalid payment session request", ps)
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), paymentCreateTimeout)
	defer cancel()
	created, err := h.cfg.Engine.StartPayment(ctx, workflows.PaymentInput{ID: id, ShopUUID: shop, Request: req, RequestDigest: digest})
	if err != nil {
		if key != "" && alreadyThere(err) {
			h.replay(c, id, digest)
			return
		}
		h.createError(c, id, err)
		return
	}
	LoggerFrom(c).Info("payment session created", "id", id, "posSessionUuid", created.POSSessionUUID)
	c.Header("Location", PaymentSessionsPath+"/"+id)
	c.JSON(http.StatusCreated, created)
}

// createError answers a failed create: the caller's mistakes are 400 (with Inbank's
// problems), ours or Inbank's are 502, an unreachable engine 503.
func (h *paymentRoutes) createError(c *gin.Context, id string, err error) {
	_ = c.Error(err)
	log := LoggerFrom(c)
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		var probs []schemas.Problem
		if ae.HasDetails() {
			_ = ae.Details(&probs)
		}
		switch ae.Type() {
		case activities.ErrTypeInvalidRequest, activities.ErrTypeInbankRejected:
			invalid(c, "Inbank rejected the payment session request", probs)
			return
		case activities.ErrTypeInbankForbidden:
			invalid(c, "invalid payment session request",
				[]schemas.Problem{{Pointer: "/shopUuid", Message: "the configured Inbank API key may not use this shop"}})
			return
		case activities.ErrTypeInbankNotFound:
			invalid(c, "invalid payment session request",
				[]schemas.Problem{{Pointer: "/shopUuid", Message: "Inbank does not know this shop"}})
			return
		case activities.ErrTypeInbankUnauthorized:
			log.Error("inbank refused our API key", "id", id)
			abort(c, http.StatusBadGateway, CodeUpstream, "Inbank refused the engine's credentials (401)")
			return
		}
		log.Warn("inbank create failed", "id", id, "error", err)
		abort(c, http.StatusBadGateway, CodeUpstream, "Inbank did not create the session: "+ae.Error())
		return
	}
	if errors.Is(err, context.DeadlineExceeded) && c.Request.Context().Err() == nil {
		abort(c, http.StatusGatewayTimeout, CodeTimeout, "no answer from Inbank in time; check GET "+PaymentSessionsPath+"/"+id)
		return
	}
	log.Warn("payment session start failed", "id", id, "error", err)
	unavailable(c, "5", "the workflow engine is unavailable; try again shortly")
}

func (h *paymentRoutes) get(c *gin.Context) {
	id := c.Param("id")
	if !pos.IsUUID(id) {
		abort(c, http.StatusNotFound, CodeNotFound, "payment session "+id+" not found")
		return
	}
	s, err := h.cfg.Engine.PaymentStatus(c.Request.Context(), id)
	switch {
	case errors.Is(err, starter.ErrNotFound):
		abort(c, http.StatusNotFound, CodeNotFound, "payment session "+id+" not found")
	case err != nil:
		_ = c.Error(err)
		unavailable(c, "5", "the workflow engine is unavailable; try again shortly")
	default:
		c.JSON(http.StatusOK, s)
	}
}

// callback receives an Inbank callback. Verified (401 otherwise, 400 when malformed), it is
// signalled to the session's workflow as a trigger and answered 202. A callback for a
// session we do not run, or one already ended, is answered 202 too with "ignored": Inbank
// must not retry it, and duplicates arriving after the end are normal.
func (h *paymentRoutes) callback(c *gin.Context) {
	body, ok := readBody(c, maxPaymentBody)
	if !ok {
		return
	}
	log := LoggerFrom(c)
	cb, err := pos.VerifyCallback(h.cfg.APIKey, c.Request.Header, body, time.Now())
	if err != nil {
		var ce *pos.CallbackError
		errors.As(err, &ce)
		switch {
		case errors.Is(err, pos.ErrCallbackMalformed):
			invalid(c, "invalid callback", ce.Problems)
		default:
			log.Warn("inbank callback rejected", "error", err)
			abort(c, http.StatusUnauthorized, CodeBadSignature, err.Error())
		}
		return
	}
	id := c.Query("session")
	if !pos.IsUUID(id) {
		invalid(c, "invalid callback", []schemas.Problem{{Pointer: "", Message: "query parameter session must be a payment session id"}})
		return
	}
	err = h.cfg.Engine.SignalPayment(c.Request.Context(), id,
		workflows.InbankCallback{POSSessionUUID: cb.POSSessionUUID, Status: cb.Status, Timestamp: cb.Timestamp})
	switch {
	case errors.Is(err, starter.ErrNotFound):
		log.Info("inbank callback for no open payment session", "id", id, "status", cb.Status)
		c.JSON(http.StatusAccepted, gin.H{"status": "ignored", "reason": "no open payment session " + id})
	case err != nil:
		_ = c.Error(err)
		// 5xx: Inbank (the sandbox) tries again.
		abort(c, http.StatusServiceUnavailable, CodeUnavailable, "the workflow engine is unavailable; try again shortly")
	default:
		c.JSON(http.StatusAccepted, gin.H{"status": "accepted"})
	}
}

func validIdempotencyKey(k string) bool {
	if len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return k != ""
}

// keyedPaymentID is the session id of an Idempotency-Key: a UUID (version 8: custom) from
// its SHA-256, so the same key always names the same session.
func keyedPaymentID(key string) string {
	sum := sha256.Sum256([]byte("epcflow payment session\x00" + key))
	var u uuid.UUID
	copy(u[:], sum[:16])
	u[6] = u[6]&0x0f | 0x80 // version 8
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return u.String()
}

// requestDigest is the SHA-256 of the request body, insignificant whitespace aside.
func requestDigest(body []byte) string {
	var buf bytes.Buffer
	if json.Compact(&buf, body) != nil {
		buf.Reset()
		buf.Write(body)
	}
	sum := sha256.Sum256(buf.Bytes())
	return hex.EncodeToString(sum[:])
}

// alreadyThere reports an error saying the key's session exists: its workflow ended (and may
// not start again) or its create-session update already ran.
func alreadyThere(err error) bool {
	var ae *temporal.ApplicationError
	return errors.Is(err, starter.ErrClosed) || (errors.As(err, &ae) && ae.Type() == workflows.ErrTypeAlreadyCreated)
}

// replay answers a create whose Idempotency-Key already has a session: that session, as it
// was created; 422 if the key came with another request; 409 while its create is under way;
// 502 if Inbank never created it (a new key tries again).
func (h *paymentRoutes) replay(c *gin.Context, id, digest string) {
	ctx := c.Request.Context()
	s, err := h.cfg.Engine.PaymentStatus(ctx, id)
	switch {
	case err != nil:
		_ = c.Error(err)
		unavailable(c, "1", "the session of this Idempotency-Key cannot be read now; try again shortly")
	case s.RequestDigest != digest:
		abort(c, http.StatusUnprocessableEntity, CodeIdempotencyKeyReused, "this Idempotency-Key was used with another request")
	case s.POSSessionUUID != "":
		c.Header("Idempotent-Replayed", "true")
		c.Header("Location", PaymentSessionsPath+"/"+id)
		c.JSON(http.StatusOK, workflows.PaymentCreated{ID: id, POSSessionUUID: s.POSSessionUUID, RedirectURL: s.RedirectURL, Status: s.Status})
	case h.cfg.Engine.PaymentRunning(ctx, id):
		c.Header("Retry-After", "1")
		abort(c, http.StatusConflict, CodeConflict, "the create for this Idempotency-Key is under way; try again shortly")
	default:
		abort(c, http.StatusBadGateway, CodeUpstream, "Inbank did not create the session of this Idempotency-Key; use a new key to try again")
	}
}
