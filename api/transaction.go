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

// The transaction flow's routes: EPC webhooks (transaction_webhook.go), and the operator's
// reads and actions on a transaction (the delivery of a report is in transaction_deliver.go).
//
//	POST /webhooks/epc                   EPC webhook (Elli-Signature or X-Elli-Signature)
//	GET  /v1/transactions/:id            transaction status (workflow query)
//	POST /v1/transactions/:id/schedule   operator: inspection scheduled (JSON)
//	POST /v1/transactions/:id/deliver    operator: report PDF and value (multipart or JSON)
//	POST /v1/transactions/:id/events     operator: progress note (JSON)

// Engine runs transactions; *starter.Starter satisfies it. Errors wrap the starter package's
// sentinels (ErrNotFound, ErrRejected, ErrUnavailable, ErrClosed).
type Engine interface {
	// DeliverWebhook hands a verified webhook to its transaction's workflow; bodySHA256 is
	// the hex SHA-256 of its raw body, its identity when it has no eventId.
	DeliverWebhook(ctx context.Context, w epc.Webhook, bodySHA256 string) (runID string, err error)
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
	tx := r.Group("/v1/transactions/:id", s.sameOrigin, s.operatorAuth, s.transactionParam)
	tx.GET("", s.status)
	tx.POST("/schedule", s.schedule)
	tx.POST("/deliver", s.deliver)
	tx.POST("/events", s.progress)
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
	if st, ok := s.queryStatus(c); ok {
		c.JSON(http.StatusOK, st)
	}
}

// queryStatus asks the :id transaction's workflow for its status; false when it has answered
// the failure.
func (s *server) queryStatus(c *gin.Context) (workflows.Status, bool) {
	id := c.Param(keyParamID)
	ctx, cancel := s.operatorContext(c)
	defer cancel()
	st, err := s.cfg.Engine.Status(ctx, id)
	if err != nil {
		engineError(c, ctx, id, err)
		return st, false
	}
	return st, true
}

// schedule: {"inspectionAt": RFC 3339, "appraiser"?, "comments"?}.
func (s *server) schedule(c *gin.Context) {
	jsonAction(s, c, "schedule", func(o *object, actor string) workflows.ScheduleInput {
		return workflows.ScheduleInput{
			InspectionAt: o.time("inspectionAt", true),
			Appraiser:    o.str("appraiser", false, maxNameLen),
			Comments:     o.str("comments", false, maxCommentsLen),
			Actor:        actor,
		}
	}, s.cfg.Engine.Schedule)
}

// progress: {"text", "comments"?}, posted to the lender as a transaction event.
func (s *server) progress(c *gin.Context) {
	jsonAction(s, c, "progress", func(o *object, actor string) workflows.ProgressInput {
		return workflows.ProgressInput{
			Text:     o.str("text", true, maxTextLen),
			Comments: o.str("comments", false, maxCommentsLen),
			Actor:    actor,
		}
	}, s.cfg.Engine.Progress)
}

// jsonAction is an operator action with a JSON object body: read takes the action's input
// from it, noting its problems on o; with none, do sends it to the :id transaction.
func jsonAction[In any](s *server, c *gin.Context, action string, read func(o *object, actor string) In,
	do func(ctx context.Context, id string, in In) (workflows.ActionResult, error)) {
	actor, ok := requestActor(c)
	if !ok {
		return
	}
	o, ok := s.jsonObject(c, maxJSONBytes)
	if !ok {
		return
	}
	in := read(o, actor)
	if !answerProblems(c, o.problems()) {
		return
	}
	s.act(c, action, func(ctx context.Context, id string) (workflows.ActionResult, error) {
		return do(ctx, id, in)
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
