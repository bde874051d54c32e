package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/schemas"
	"github.com/epcflow/epcflow/starter"
	"github.com/epcflow/epcflow/workflows"
)

// retryAfterSeconds is what a 503 asks the caller to wait.
const retryAfterSeconds = "5"

// webhook runs after epc.VerifyMiddleware: the body is authentic. It answers 400 only for a
// body that can never be processed, 202 once the workflow has the webhook, and 503 for
// anything on our side, so that the platform retries.
func (s *server) webhook(c *gin.Context) {
	body := epc.RawBody(c)
	w, probs, err := parseWebhook(body)
	if err != nil {
		// Only a missing embedded schema gets here: our bug. 503, not 4xx, so the platform
		// keeps the webhook and retries once a fixed build is deployed.
		_ = c.Error(err)
		unavailable(c, "cannot validate webhooks right now")
		return
	}
	if len(probs) > 0 {
		writeProblems(c, http.StatusBadRequest, "invalid webhook", probs)
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
		unavailable(c, "cannot accept the webhook right now")
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
