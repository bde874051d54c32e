package payments

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/schemas"
)

// Config configures the payment endpoints.
type Config struct {
	Temporal  client.Client
	TaskQueue string
	// APIKey is the Inbank API key, used here only to verify callbacks.
	APIKey string
	// CallbackBaseURL is our public base URL as Inbank reaches it; callbacks go to
	// {CallbackBaseURL}/webhooks/inbank?session={id}.
	CallbackBaseURL string
	Logger          *slog.Logger
}

// CallbackPath is where Inbank's callbacks are received.
const CallbackPath = "/webhooks/inbank"

const maxBody = 1 << 20

// createTimeout bounds POST /v1/payment-sessions: Inbank's answer with the create retries.
const createTimeout = 60 * time.Second

// errorBody is every error answer, as the api package writes them.
type errorBody struct {
	Error    string            `json:"error"`
	Problems []schemas.Problem `json:"problems,omitempty"`
}

type handler struct {
	cfg Config
	log *slog.Logger
}

// Register adds the payment endpoints to r:
//
//	POST /v1/payment-sessions      seed 001 body plus "shopUuid" → 201 {id, posSessionUuid, redirectUrl, status}
//	GET  /v1/payment-sessions/:id  the session (status query) → 200, or 404
//	POST /webhooks/inbank?session={id}  a signed Inbank callback → 202
//
// The body must carry partnerUrls (returnUrl, cancelUrl): the engine sets its callbackUrl
// (replacing the caller's) so that Inbank's callbacks reach the session's workflow.
func Register(r gin.IRoutes, cfg Config) error {
	var missing []string
	if cfg.Temporal == nil {
		missing = append(missing, "Temporal")
	}
	if cfg.TaskQueue == "" {
		missing = append(missing, "TaskQueue")
	}
	if cfg.APIKey == "" {
		missing = append(missing, "APIKey")
	}
	if u, err := url.Parse(cfg.CallbackBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		missing = append(missing, "CallbackBaseURL (an absolute http(s) URL)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("payments: config: missing %s", strings.Join(missing, ", "))
	}
	h := &handler{cfg: cfg, log: cfg.Logger}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	r.POST("/v1/payment-sessions", h.create)
	r.GET("/v1/payment-sessions/:id", h.get)
	r.POST(CallbackPath, h.callback)
	return nil
}

func fail(c *gin.Context, status int, msg string, probs ...schemas.Problem) {
	c.AbortWithStatusJSON(status, errorBody{Error: msg, Problems: probs})
}

func readBody(c *gin.Context) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		fail(c, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body too large: limit is %d bytes", maxBody))
		return nil, false
	case err != nil:
		fail(c, http.StatusBadRequest, "cannot read the request body")
		return nil, false
	}
	return b, true
}

// newID is a random session id (UUID v4 form).
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// prepare splits the caller's body into the shop and the Inbank request, with our
// callbackUrl, and reports every problem at once.
func (h *handler) prepare(body []byte, id string) (string, []byte, []schemas.Problem) {
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
	urls["callbackUrl"] = strings.TrimRight(h.cfg.CallbackBaseURL, "/") + CallbackPath + "?session=" + url.QueryEscape(id)
	req, err = json.Marshal(doc)
	if err != nil {
		return "", nil, []schemas.Problem{{Pointer: "", Message: "cannot encode: " + err.Error()}}
	}
	return shop, req, nil
}

func (h *handler) create(c *gin.Context) {
	body, ok := readBody(c)
	if !ok {
		return
	}
	id, digest := newID(), ""
	key := c.GetHeader(IdempotencyKeyHeader)
	if key != "" {
		if !validIdempotencyKey(key) {
			fail(c, http.StatusBadRequest, "invalid payment session request",
				schemas.Problem{Pointer: "", Message: IdempotencyKeyHeader + " header: 1 to 255 visible ASCII characters"})
			return
		}
		id, digest = keyedID(key), requestDigest(body)
	}
	shop, req, ps := h.prepare(body, id)
	if len(ps) > 0 {
		fail(c, http.StatusBadRequest, "invalid payment session request", ps...)
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), createTimeout)
	defer cancel()
	created, err := Start(ctx, h.cfg.Temporal, h.cfg.TaskQueue, SessionInput{ID: id, ShopUUID: shop, Request: req, RequestDigest: digest})
	if err != nil {
		if key != "" && isAlreadyThere(err) {
			h.replay(c, id, digest)
			return
		}
		h.createError(c, id, err)
		return
	}
	h.log.Info("payment session created", "id", id, "posSessionUuid", created.POSSessionUUID)
	c.Header("Location", "/v1/payment-sessions/"+id)
	c.JSON(http.StatusCreated, created)
}

// Start starts a PaymentSession workflow with its create-session update (update-with-start)
// and returns the update's answer: as soon as Inbank has answered the create call.
func Start(ctx context.Context, c client.Client, taskQueue string, in SessionInput) (Created, error) {
	in.CreateOnStart = false
	op := c.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID:                       WorkflowID(in.ID),
		TaskQueue:                taskQueue,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		// An ended session is never started again under its id (an Idempotency-Key's).
		WorkflowIDReusePolicy: enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	}, PaymentWorkflowName, in)
	u, err := c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: op,
		UpdateOptions: client.UpdateWorkflowOptions{
			WorkflowID:   WorkflowID(in.ID),
			UpdateName:   CreateUpdateName,
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err != nil {
		return Created{}, fmt.Errorf("payments: start session %s: %w", in.ID, err)
	}
	var out Created
	if err := u.Get(ctx, &out); err != nil {
		return Created{}, fmt.Errorf("payments: create session %s: %w", in.ID, err)
	}
	return out, nil
}

// createError answers a failed create: the caller's mistakes are 400 (with Inbank's
// problems), ours or Inbank's are 502, an unreachable engine 503.
func (h *handler) createError(c *gin.Context, id string, err error) {
	_ = c.Error(err)
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		var probs []schemas.Problem
		if ae.HasDetails() {
			_ = ae.Details(&probs)
		}
		switch ae.Type() {
		case ErrTypeInvalidRequest, ErrTypeRejected:
			fail(c, http.StatusBadRequest, "Inbank rejected the payment session request", probs...)
			return
		case ErrTypeForbidden:
			fail(c, http.StatusBadRequest, "invalid payment session request",
				schemas.Problem{Pointer: "/shopUuid", Message: "the configured Inbank API key may not use this shop"})
			return
		case ErrTypeShopNotFound:
			fail(c, http.StatusBadRequest, "invalid payment session request",
				schemas.Problem{Pointer: "/shopUuid", Message: "Inbank does not know this shop"})
			return
		case ErrTypeUnauthorized:
			h.log.Error("inbank refused our API key", "id", id)
			fail(c, http.StatusBadGateway, "Inbank refused the engine's credentials (401)")
			return
		}
		h.log.Warn("inbank create failed", "id", id, "error", err)
		fail(c, http.StatusBadGateway, "Inbank did not create the session: "+ae.Error())
		return
	}
	if errors.Is(err, context.DeadlineExceeded) && c.Request.Context().Err() == nil {
		fail(c, http.StatusGatewayTimeout, "no answer from Inbank in time; check GET /v1/payment-sessions/"+id)
		return
	}
	h.log.Warn("payment session start failed", "id", id, "error", err)
	c.Header("Retry-After", "5")
	fail(c, http.StatusServiceUnavailable, "the workflow engine is unavailable; try again shortly")
}

func (h *handler) get(c *gin.Context) {
	id := c.Param("id")
	if !pos.IsUUID(id) {
		fail(c, http.StatusNotFound, "payment session "+id+" not found")
		return
	}
	s, err := Query(c.Request.Context(), h.cfg.Temporal, id)
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &nf):
		fail(c, http.StatusNotFound, "payment session "+id+" not found")
	case err != nil:
		_ = c.Error(err)
		c.Header("Retry-After", "5")
		fail(c, http.StatusServiceUnavailable, "the workflow engine is unavailable; try again shortly")
	default:
		c.JSON(http.StatusOK, s)
	}
}

// Query reads a payment session's state (open or closed) with the status query.
func Query(ctx context.Context, c client.Client, id string) (Session, error) {
	var s Session
	v, err := c.QueryWorkflow(ctx, WorkflowID(id), "", StatusQueryName)
	if err != nil {
		return s, fmt.Errorf("payments: query session %s: %w", id, err)
	}
	if err := v.Get(&s); err != nil {
		return s, fmt.Errorf("payments: decode session %s: %w", id, err)
	}
	return s, nil
}

// callback receives an Inbank callback. Verified (401 otherwise, 400 when malformed), it is
// signalled to the session's workflow as a trigger and answered 202. A callback for a
// session we do not run, or one already ended, is answered 202 too with "ignored": Inbank
// must not retry it, and duplicates arriving after the end are normal.
func (h *handler) callback(c *gin.Context) {
	body, ok := readBody(c)
	if !ok {
		return
	}
	cb, err := pos.VerifyCallback(h.cfg.APIKey, c.Request.Header, body, time.Now())
	if err != nil {
		var ce *pos.CallbackError
		errors.As(err, &ce)
		switch {
		case errors.Is(err, pos.ErrCallbackMalformed):
			fail(c, http.StatusBadRequest, "invalid callback", ce.Problems...)
		default:
			h.log.Warn("inbank callback rejected", "error", err)
			fail(c, http.StatusUnauthorized, err.Error())
		}
		return
	}
	id := c.Query("session")
	if !pos.IsUUID(id) {
		fail(c, http.StatusBadRequest, "invalid callback", schemas.Problem{Pointer: "", Message: "query parameter session must be a payment session id"})
		return
	}
	err = h.cfg.Temporal.SignalWorkflow(c.Request.Context(), WorkflowID(id), "", CallbackSignalName,
		Callback{POSSessionUUID: cb.POSSessionUUID, Status: cb.Status, Timestamp: cb.Timestamp})
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &nf):
		h.log.Info("inbank callback for no open payment session", "id", id, "status", cb.Status)
		c.JSON(http.StatusAccepted, gin.H{"status": "ignored", "reason": "no open payment session " + id})
	case err != nil:
		_ = c.Error(err)
		// 5xx: Inbank (the sandbox) tries again.
		fail(c, http.StatusServiceUnavailable, "the workflow engine is unavailable; try again shortly")
	default:
		c.JSON(http.StatusAccepted, gin.H{"status": "accepted"})
	}
}

// IdempotencyKeyHeader names the client's key for POST /v1/payment-sessions: the same key
// answers with the same session instead of creating another, so a client whose answer was
// lost (a timeout, a 503) can ask again safely.
const IdempotencyKeyHeader = "Idempotency-Key"

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

// keyedID is the session id of an Idempotency-Key: a UUID (version 8 form) from its SHA-256.
func keyedID(key string) string {
	sum := sha256.Sum256([]byte("epcflow payment session\x00" + key))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x80
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
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

// isAlreadyThere reports an error saying the key's session exists: its workflow ended (and
// may not start again) or its create-session update already ran.
func isAlreadyThere(err error) bool {
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	var ae *temporal.ApplicationError
	return errors.As(err, &started) || (errors.As(err, &ae) && ae.Type() == ErrTypeAlreadyCreated)
}

// replay answers a create whose Idempotency-Key already has a session: that session, as it
// was created; 422 if the key came with another request; 409 while its create is under way;
// 502 if Inbank never created it (a new key tries again).
func (h *handler) replay(c *gin.Context, id, digest string) {
	s, err := Query(c.Request.Context(), h.cfg.Temporal, id)
	switch {
	case err != nil:
		_ = c.Error(err)
		c.Header("Retry-After", "1")
		fail(c, http.StatusServiceUnavailable, "the session of this Idempotency-Key cannot be read now; try again shortly")
	case s.RequestDigest != digest:
		fail(c, http.StatusUnprocessableEntity, "this Idempotency-Key was used with another request")
	case s.POSSessionUUID != "":
		c.Header("Idempotent-Replayed", "true")
		c.Header("Location", "/v1/payment-sessions/"+id)
		c.JSON(http.StatusOK, Created{ID: id, POSSessionUUID: s.POSSessionUUID, RedirectURL: s.RedirectURL, Status: s.Status})
	case h.running(c.Request.Context(), id):
		c.Header("Retry-After", "1")
		fail(c, http.StatusConflict, "the create for this Idempotency-Key is under way; try again shortly")
	default:
		fail(c, http.StatusBadGateway, "Inbank did not create the session of this Idempotency-Key; use a new key to try again")
	}
}

// running reports whether the session's workflow is still running (when in doubt, yes: the
// client is then told to try again rather than that the create failed).
func (h *handler) running(ctx context.Context, id string) bool {
	d, err := h.cfg.Temporal.DescribeWorkflowExecution(ctx, WorkflowID(id), "")
	if err != nil {
		return true
	}
	return d.GetWorkflowExecutionInfo().GetStatus() == enums.WORKFLOW_EXECUTION_STATUS_RUNNING
}
