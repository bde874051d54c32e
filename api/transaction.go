package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/schemas"
	"github.com/epcflow/epcflow/starter"
	"github.com/epcflow/epcflow/workflows"
)

// The transaction flow's routes: EPC webhooks, and the operator's reads and actions on a
// transaction (the delivery of a report is in transaction_deliver.go).
//
//	POST /webhooks/epc                   EPC webhook (Elli-Signature)
//	GET  /v1/transactions/:id            transaction status (workflow query)
//	POST /v1/transactions/:id/schedule   operator: inspection scheduled (JSON)
//	POST /v1/transactions/:id/deliver    operator: report PDF and value (multipart or JSON)
//	POST /v1/transactions/:id/events     operator: progress note (JSON)

// Engine runs transactions; *starter.Starter satisfies it. Errors wrap the starter package's
// sentinels (ErrNotFound, ErrRejected, ErrUnavailable, ErrClosed).
type Engine interface {
	DeliverWebhook(ctx context.Context, w epc.Webhook) (runID string, err error)
	Status(ctx context.Context, transactionID string) (workflows.Status, error)
	Schedule(ctx context.Context, transactionID string, in workflows.ScheduleInput) (workflows.ActionResult, error)
	Deliver(ctx context.Context, transactionID string, in workflows.DeliverInput) (workflows.ActionResult, error)
	Progress(ctx context.Context, transactionID string, in workflows.ProgressInput) (workflows.ActionResult, error)
}

var _ Engine = (*starter.Starter)(nil)

// mountTransaction adds the transaction flow's routes: the webhook (signed) and the operator
// endpoints (behind the operator token).
func (s *server) mountTransaction(r *gin.Engine) {
	r.POST(WebhookPath, s.webhook)
	tx := r.Group("/v1/transactions/:id", s.operatorAuth, s.transactionParam)
	tx.GET("", s.status)
	tx.POST("/schedule", s.schedule)
	tx.POST("/deliver", s.deliver)
	tx.POST("/events", s.progress)
}

// WebhookPath receives EPC's webhooks.
const WebhookPath = "/webhooks/epc"

// retryAfterSeconds is what a 503 asks the caller to wait.
const retryAfterSeconds = "5"

// webhook takes an EPC webhook: its signature is checked on the raw body before anything
// else. It answers 401 for a missing or bad signature, 400 only for a body that can never be
// processed, 202 once the workflow has the webhook, and 503 for anything on our side, so
// that the platform retries.
func (s *server) webhook(c *gin.Context) {
	body, ok := readBody(c, s.cfg.MaxWebhookBytes)
	if !ok {
		return
	}
	if err := s.cfg.Verifier.Verify(body, c.GetHeader(epc.SignatureHeader)); err != nil {
		msg := "missing signature: header " + epc.SignatureHeader + " is required"
		if !errors.Is(err, epc.ErrMissingSignature) {
			msg = strings.TrimPrefix(err.Error(), "epc: ") + ": " + epc.SignatureHeader +
				" must be the base64 HMAC-SHA256 of the raw body under a configured signing key"
		}
		abort(c, http.StatusUnauthorized, CodeBadSignature, msg)
		return
	}
	w, probs, err := parseWebhook(body)
	if err != nil {
		// Only a missing embedded schema gets here: our bug. 503, not 4xx, so the platform
		// keeps the webhook and retries once a fixed build is deployed.
		_ = c.Error(err)
		unavailable(c, retryAfterSeconds, "cannot validate webhooks right now")
		return
	}
	if len(probs) > 0 {
		invalid(c, "invalid webhook", probs)
		return
	}
	// parseWebhook has checked that the transaction id can be derived.
	txID, _ := epc.TransactionIDFromWebhook(w)
	setTransactionID(c, txID)
	log := LoggerFrom(c).With("eventId", w.EventID, "eventType", w.EventType, "resourceType", w.Meta.ResourceType)

	ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.WebhookTimeout)
	defer cancel()
	runID, err := s.cfg.Engine.DeliverWebhook(ctx, w)
	switch {
	case err == nil:
		log.Info("webhook delivered to workflow", "runId", runID)
		c.JSON(http.StatusAccepted, gin.H{
			"transactionId": txID,
			"workflowId":    workflows.TransactionWorkflowID(txID),
			"runId":         runID,
		})
	case errors.Is(err, starter.ErrClosed):
		log.Info("webhook for a finished transaction ignored")
		c.JSON(http.StatusAccepted, gin.H{
			"transactionId": txID,
			"status":        "closed",
			"message":       "the transaction's workflow has finished; nothing to do",
		})
	default:
		// Unavailable, timeout, connection or anything unexpected: never lose the webhook.
		_ = c.Error(err)
		unavailable(c, retryAfterSeconds, "cannot accept the webhook right now")
	}
}

// parseWebhook parses body and validates it against the webhook schema, returning every
// problem found. ParseWebhook's problems come first, at the member they are about; a schema
// problem is added unless it sits at one of those pointers or above one (the schema reports
// a missing member at its parent: "": missing property "eventTime"), so nothing is listed
// twice. err is only for a fault of ours.
func parseWebhook(body []byte) (epc.Webhook, []schemas.Problem, error) {
	var probs []schemas.Problem
	w, err := epc.ParseWebhook(body)
	if err != nil {
		probs = schemas.Problems(err)
		if len(probs) == 0 {
			probs = []schemas.Problem{{Pointer: "", Message: err.Error()}}
		}
	} else if _, err := epc.TransactionIDFromWebhook(w); err != nil {
		ptr := "/meta/resourceId"
		if w.Meta.ResourceType == epc.ResourceTransactionEvent {
			ptr = "/meta/resourceRef"
		}
		msg := err.Error()
		if inner := errors.Unwrap(err); inner != nil {
			msg = inner.Error() // without the "epc: webhook /meta/…:" prefix
		}
		probs = append(probs, schemas.Problem{Pointer: ptr, Message: msg})
	}
	if err := schemas.Default().Validate(schemas.Webhook, body); err != nil {
		extra := schemas.Problems(err)
		if extra == nil {
			return epc.Webhook{}, nil, err
		}
		if len(probs) == 1 && probs[0].Pointer == "" {
			// Not a JSON object at all: the schema's wording says where the JSON breaks.
			probs = nil
		}
		own := len(probs)
		for _, p := range extra {
			if !covered(p.Pointer, probs[:own]) {
				probs = append(probs, p)
			}
		}
	}
	sortProblems(probs)
	return w, probs, nil
}

// covered reports whether ptr is, or is a parent of, the pointer of one of probs.
func covered(ptr string, probs []schemas.Problem) bool {
	for _, p := range probs {
		if p.Pointer == ptr || strings.HasPrefix(p.Pointer, ptr+"/") {
			return true
		}
	}
	return false
}

const (
	keyParamID      = "id"
	maxTxIDLen      = 128
	txIDRuleMessage = "invalid transaction id: 1 to 128 characters of A-Z a-z 0-9 - _ ."
)

// validTransactionID admits what EPC ids look like (UUIDs) and nothing that could garble a
// log line or a workflow id.
func validTransactionID(id string) bool {
	if id == "" || len(id) > maxTxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		b := id[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_' || b == '.') {
			return false
		}
	}
	return true
}

// transactionParam checks :id on every /v1/transactions/:id route and records it for logs.
func (s *server) transactionParam(c *gin.Context) {
	id := c.Param(keyParamID)
	if !validTransactionID(id) {
		abort(c, http.StatusBadRequest, CodeInvalidRequest, txIDRuleMessage)
		return
	}
	setTransactionID(c, id)
	c.Next()
}

func (s *server) operatorContext(c *gin.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Request.Context(), s.cfg.OperatorTimeout)
}

// status answers the transaction's live state (the workflow's status query).
func (s *server) status(c *gin.Context) {
	id := c.Param(keyParamID)
	ctx, cancel := s.operatorContext(c)
	defer cancel()
	st, err := s.cfg.Engine.Status(ctx, id)
	if err != nil {
		engineError(c, ctx, id, err)
		return
	}
	c.JSON(http.StatusOK, st)
}

// schedule: {"inspectionAt": RFC 3339, "appraiser"?, "comments"?}.
func (s *server) schedule(c *gin.Context) {
	actor, ok := requestActor(c)
	if !ok {
		return
	}
	o, ok := s.jsonObject(c, maxJSONBytes)
	if !ok {
		return
	}
	in := workflows.ScheduleInput{
		InspectionAt: o.time("inspectionAt", true),
		Appraiser:    o.str("appraiser", false, maxNameLen),
		Comments:     o.str("comments", false, maxCommentsLen),
		Actor:        actor,
	}
	if !answerProblems(c, o.problems()) {
		return
	}
	s.act(c, "schedule", func(ctx context.Context, id string) (workflows.ActionResult, error) {
		return s.cfg.Engine.Schedule(ctx, id, in)
	})
}

// progress: {"text", "comments"?}, posted to the lender as a transaction event.
func (s *server) progress(c *gin.Context) {
	actor, ok := requestActor(c)
	if !ok {
		return
	}
	o, ok := s.jsonObject(c, maxJSONBytes)
	if !ok {
		return
	}
	in := workflows.ProgressInput{
		Text:     o.str("text", true, maxTextLen),
		Comments: o.str("comments", false, maxCommentsLen),
		Actor:    actor,
	}
	if !answerProblems(c, o.problems()) {
		return
	}
	s.act(c, "progress", func(ctx context.Context, id string) (workflows.ActionResult, error) {
		return s.cfg.Engine.Progress(ctx, id, in)
	})
}

// jsonObject reads a JSON object body of at most limit bytes; false when it has answered.
func (s *server) jsonObject(c *gin.Context, limit int64) (*object, bool) {
	if !requireJSON(c) {
		return nil, false
	}
	body, ok := readBody(c, limit)
	if !ok {
		return nil, false
	}
	return decodeObject(body), true
}

// answerProblems answers 400 when there are problems; true when there are none.
func answerProblems(c *gin.Context, probs []schemas.Problem) bool {
	if len(probs) == 0 {
		return true
	}
	invalid(c, "invalid request", probs)
	return false
}

// act sends an operator action to the workflow and answers with its result.
func (s *server) act(c *gin.Context, action string, do func(ctx context.Context, id string) (workflows.ActionResult, error)) {
	id := c.Param(keyParamID)
	ctx, cancel := s.operatorContext(c)
	defer cancel()
	res, err := do(ctx, id)
	if err != nil {
		engineError(c, ctx, id, err)
		return
	}
	LoggerFrom(c).Info("operator action accepted", "action", action, "stage", res.Stage)
	c.JSON(http.StatusOK, res)
}

// engineError answers an Engine failure on a /v1 endpoint. ctx is the call's context, to tell
// our own deadline from an unreachable engine.
func engineError(c *gin.Context, ctx context.Context, txID string, err error) {
	_ = c.Error(err) // for the access log
	switch {
	case errors.Is(err, starter.ErrNotFound):
		abort(c, http.StatusNotFound, CodeNotFound, fmt.Sprintf("transaction %s not found", txID))
	case errors.Is(err, starter.ErrRejected):
		abort(c, http.StatusConflict, CodeConflict, rejection(err))
	case errors.Is(err, starter.ErrClosed):
		abort(c, http.StatusConflict, CodeConflict, fmt.Sprintf("transaction %s is closed", txID))
	case errors.Is(ctx.Err(), context.DeadlineExceeded) && c.Request.Context().Err() == nil:
		abort(c, http.StatusGatewayTimeout, CodeTimeout, fmt.Sprintf(
			"no answer from the workflow in time; the action may still complete: check GET /v1/transactions/%s", txID))
	case errors.Is(err, starter.ErrUnavailable), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		unavailable(c, retryAfterSeconds, "the workflow engine is unavailable; try again shortly")
	default:
		abort(c, http.StatusInternalServerError, CodeInternal, "internal error")
	}
}

// rejection extracts the workflow's own message from a starter.ErrRejected error, which reads
// "action rejected: <message>".
func rejection(err error) string {
	msg := err.Error()
	if m, ok := strings.CutPrefix(msg, starter.ErrRejected.Error()+": "); ok && m != "" {
		return m
	}
	return msg
}
