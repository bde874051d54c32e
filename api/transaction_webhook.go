package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/epcflow/epcflow/dedup"
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/schemas"
	"github.com/epcflow/epcflow/starter"
	"github.com/epcflow/epcflow/vocab"
	"github.com/epcflow/epcflow/workflows"
)

// EPC webhooks: strict verification, liberal intake. A 4xx makes the platform drop a webhook
// for good, so the only refusals are 401 (no valid signature), 413 and 400 for a body that can
// never be processed (not a webhook, or naming a transaction id no workflow can have). Every
// other verified webhook is accepted, whatever its resource or event type; those epcflow does
// not act on are logged, counted and recorded on their order. A transaction event's webhook
// that its order at work would learn nothing from is accepted, logged and counted, and not
// signalled (starter.ErrNotNeeded): the order reads its transaction itself.
//
// Copies are dropped here, before they reach the workflow's history (where each signal counts
// against Temporal's limits): by eventId, or without one by the SHA-256 of the whole body, in
// a store every replica shares (Config.Dedup). A key counts as seen only once the workflow
// took its signal; when the store is down the webhook is delivered all the same and the
// workflow drops the copy itself.

// WebhookPath receives EPC's webhooks.
const WebhookPath = "/webhooks/epc"

// retryAfterSeconds is what a 503 asks the caller to wait.
const retryAfterSeconds = "5"

// maxLogValue bounds an untrusted value in a log line.
const maxLogValue = 128

// webhookMetrics count what the webhook endpoint did beyond HTTP status codes.
type webhookMetrics struct {
	duplicates  prometheus.Counter
	notNeeded   prometheus.Counter
	storeErrors *prometheus.CounterVec
	unhandled   *prometheus.CounterVec
}

func newWebhookMetrics(reg prometheus.Registerer) (*webhookMetrics, error) {
	m := &webhookMetrics{
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "epcflow_webhook_duplicates_total",
			Help: "EPC webhooks answered without reaching their workflow: a copy of one already delivered.",
		}),
		notNeeded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "epcflow_webhooks_not_needed_total",
			Help: "EPC transaction event webhooks accepted and not signalled to their order, which reads its transaction again before it waits or ends (mostly the platform's events of the order's own writes).",
		}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "epcflow_webhook_dedup_store_errors_total",
			Help: "Failed calls to the shared store of delivered webhooks, by operation (seen, mark); the webhook was delivered all the same.",
		}, []string{"op"}),
		unhandled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "epcflow_webhooks_unhandled_total",
			Help: "Verified EPC webhooks of a type epcflow does not act on (accepted, logged, recorded on their order), by resource and event type; unknown values are counted as other.",
		}, []string{"resource_type", "event_type"}),
	}
	for _, c := range []prometheus.Collector{m.duplicates, m.notNeeded, m.storeErrors, m.unhandled} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// typeLabel bounds a metric label to the values the platform documents.
func typeLabel(v string, known ...string) string {
	for _, k := range known {
		if v == k {
			return v
		}
	}
	return "other"
}

// webhook takes an EPC webhook: its signature is checked on the raw body before anything
// else. It answers 401 for a missing or bad signature, 400 only for a body that can never be
// processed, 202 once the workflow has the webhook (or when it is a copy of one it has, or
// names no transaction), and 503 for anything on our side, so that the platform retries.
func (s *server) webhook(c *gin.Context) {
	body, ok := readBody(c, s.cfg.MaxWebhookBytes)
	if !ok || !s.verifySignature(c, body) {
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
	log := LoggerFrom(c).With("eventId", truncate(w.EventID, maxLogValue), "eventType", truncate(w.EventType, maxLogValue),
		"resourceType", truncate(w.Meta.ResourceType, maxLogValue))
	// parseWebhook has checked that a transaction of a known resource type can be derived.
	txID, err := epc.TransactionIDFromWebhook(w)
	if err != nil {
		s.countUnhandled(w)
		log.Info("webhook of a type epcflow does not act on names no transaction: accepted and ignored", "resourceId", truncate(w.Meta.ResourceID, maxLogValue))
		c.JSON(http.StatusAccepted, gin.H{"status": "ignored", "message": "no transaction of ours named: nothing to do"})
		return
	}
	setTransactionID(c, truncate(txID, maxLogValue))
	log = log.With("transactionId", truncate(txID, maxLogValue))

	sum := sha256.Sum256(body)
	digest := hex.EncodeToString(sum[:])
	var runID string
	closed, notNeeded := false, false
	deliver := func(ctx context.Context) error {
		var err error
		runID, err = s.cfg.Engine.DeliverWebhook(ctx, w, digest)
		switch {
		case errors.Is(err, starter.ErrClosed):
			closed, err = true, nil // the order is finished: nothing to deliver, now or later
		case errors.Is(err, starter.ErrNotNeeded):
			notNeeded, err = true, nil // the order reads what it says before it waits or ends
		}
		return err
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.WebhookTimeout)
	defer cancel()
	duplicate := false
	if s.dedup != nil {
		duplicate, err = s.dedup.Deliver(ctx, webhookKey(w, digest), deliver)
	} else {
		err = deliver(ctx)
	}
	switch {
	case err != nil:
		// Unavailable, timeout, connection or anything unexpected: never lose the webhook.
		_ = c.Error(err)
		unavailable(c, retryAfterSeconds, "cannot accept the webhook right now")
	case duplicate:
		s.webhooks.duplicates.Inc()
		log.Debug("copy of a delivered webhook dropped")
		c.JSON(http.StatusOK, gin.H{"transactionId": txID, "status": "duplicate", "message": "this webhook was delivered already; nothing to do"})
	case notNeeded:
		s.webhooks.notNeeded.Inc()
		log.Info("webhook accepted, not signalled: its order at work reads its transaction again before it waits or ends", "runId", runID)
		c.JSON(http.StatusAccepted, gin.H{"transactionId": txID, "workflowId": workflows.TransactionWorkflowID(txID), "runId": runID, "status": "not-needed",
			"message": "the order is at work and reads its transaction again before it waits or ends: nothing to deliver"})
	case closed:
		s.countUnhandled(w)
		log.Info("webhook for a finished transaction ignored")
		c.JSON(http.StatusAccepted, gin.H{"transactionId": txID, "status": "closed", "message": "the transaction's workflow has finished; nothing to do"})
	default:
		if s.countUnhandled(w) {
			log.Info("webhook of a type epcflow does not act on: recorded on its order", "runId", runID)
		} else {
			log.Info("webhook delivered to workflow", "runId", runID)
		}
		c.JSON(http.StatusAccepted, gin.H{"transactionId": txID, "workflowId": workflows.TransactionWorkflowID(txID), "runId": runID})
	}
}

// countUnhandled counts a webhook of a type epcflow does not act on, and says whether it was
// one. Copies are not counted.
func (s *server) countUnhandled(w epc.Webhook) bool {
	if epc.Handled(w.Meta.ResourceType, w.EventType) {
		return false
	}
	s.webhooks.unhandled.WithLabelValues(
		typeLabel(w.Meta.ResourceType, epc.ResourceTransaction, epc.ResourceTransactionEvent),
		typeLabel(w.EventType, epc.WebhookCreated, epc.WebhookUpdated)).Inc()
	return true
}

// webhookKey identifies a webhook for de-duplication: its eventId, or without one the digest
// of its whole body (eventTime has a precision of one second in ICE's samples: two different
// updates of one second must not count as one).
func webhookKey(w epc.Webhook, bodySHA256 string) string {
	if w.EventID != "" {
		return "event:" + w.EventID
	}
	return "body:" + bodySHA256
}

// verifySignature checks the signature in Elli-Signature or X-Elli-Signature (a webhook
// verifies if either does); false when it has answered 401.
func (s *server) verifySignature(c *gin.Context, body []byte) bool {
	err := epc.ErrMissingSignature
	primary, alt := s.cfg.Vocabulary.Get(vocab.WebhookSignatureHeader), s.cfg.Vocabulary.Get(vocab.WebhookSignatureHeaderAlt)
	for _, h := range []string{primary, alt} {
		sig := c.GetHeader(h)
		if strings.TrimSpace(sig) == "" {
			continue
		}
		if err = s.cfg.Verifier.Verify(body, sig); err == nil {
			return true
		}
	}
	msg := "missing signature: header " + primary + " (or " + alt + ") is required"
	if !errors.Is(err, epc.ErrMissingSignature) {
		msg = strings.TrimPrefix(err.Error(), "epc: ") + ": " + primary +
			" must be the base64 HMAC-SHA256 of the raw body under a configured signing key"
	}
	abort(c, http.StatusUnauthorized, CodeBadSignature, msg)
	return false
}

// newDedup wraps the configured store in a Guard that logs and counts the store's failures.
func (s *server) newDedup(store dedup.Backend) *dedup.Guard {
	if store == nil {
		return nil
	}
	return dedup.NewGuard(store, dedup.GuardOptions{OnStoreError: func(op string, err error) {
		s.webhooks.storeErrors.WithLabelValues(op).Inc()
		s.log.Warn("webhook dedup store failed: delivering the webhook all the same", "op", op, "error", err)
	}})
}

// parseWebhook parses body and validates it against the webhook schema, returning every
// problem found. ParseWebhook's problems come first, at the member they are about; a schema
// problem is added unless it sits at one of those pointers or above one (the schema reports
// a missing member at its parent: "": missing property "eventTime"), so nothing is listed
// twice. A webhook of a known resource type must name a transaction id a workflow can have.
// err is only for a fault of ours.
func parseWebhook(body []byte) (epc.Webhook, []schemas.Problem, error) {
	var probs []schemas.Problem
	w, err := epc.ParseWebhook(body)
	if err != nil {
		probs = schemas.Problems(err)
		if len(probs) == 0 {
			probs = []schemas.Problem{{Pointer: "", Message: err.Error()}}
		}
	} else if tx, err := epc.TransactionIDFromWebhook(w); !errors.Is(err, epc.ErrNoTransaction) {
		ptr := "/meta/resourceId"
		if w.Meta.ResourceType != epc.ResourceTransaction {
			ptr = "/meta/resourceRef"
		}
		if err == nil {
			err = workflows.CheckTransactionID(tx)
		} else if inner := errors.Unwrap(err); inner != nil {
			err = inner // without the "epc: webhook /meta/…:" prefix
		}
		if err != nil {
			probs = append(probs, schemas.Problem{Pointer: ptr, Message: err.Error()})
		}
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
