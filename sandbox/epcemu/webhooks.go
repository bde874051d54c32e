package epcemu

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/sandbox/internal/core"
	"github.com/epcflow/epcflow/vocab"
)

// WebhookRecord is what the sandbox remembers of one webhook (all copies). Guarded by the
// owning transaction's mu.
type WebhookRecord struct {
	EventID      string         `json:"eventId"`
	EventType    string         `json:"eventType"`
	ResourceType string         `json:"resourceType"`
	ResourceID   string         `json:"resourceId"`
	Queued       time.Time      `json:"queued"`
	Copies       int            `json:"copies"`
	Attempts     []core.Attempt `json:"attempts"`
	Outcome      string         `json:"outcome"`

	settled core.Settled
	// body is the webhook as signed, kept while pending so the state file can carry it over a
	// restart.
	body []byte
}

// settle records a copy's final outcome; the body goes once the webhook is settled.
func (r *WebhookRecord) settle(copy int, outcome string) {
	r.Outcome = r.settled.Settle(copy, outcome, r.Copies, r.Outcome)
	if r.Outcome != core.OutcomePending {
		r.body = nil
	}
}

// notifyEvent posts the `created` webhook of a transaction event. Caller holds t.mu.
func (e *EPC) notifyEvent(t *txState, base, eventID string) {
	e.notify(t, base, epc.WebhookCreated, epc.ResourceTransactionEvent, eventID,
		base+"/partner/v2/transactions/"+t.id+"/events/"+eventID)
}

// notifyTransaction posts a created/updated webhook about the transaction. Caller holds t.mu.
func (e *EPC) notifyTransaction(t *txState, base, eventType string) {
	e.notify(t, base, eventType, epc.ResourceTransaction, t.id, base+"/partner/v2/transactions/"+t.id)
}

// notify queues one signed webhook to the partner and records it. Caller holds t.mu; the
// delivery callbacks take it again later, from the delivery workers.
//
// As ICE's Partner Connect examples show it (epc/testdata/conformance): eventTime to the
// second, meta.instanceId the product's name ("{{PRODUCT_NAME}}"), never the lender's client
// id. The sandbox adds an eventId, as Developer Connect's webhooks carry one.
func (e *EPC) notify(t *txState, base, eventType, resourceType, resourceID, ref string) {
	wh := epc.Webhook{
		EventID:   core.NewUUID(),
		EventTime: e.now().Truncate(time.Second),
		EventType: eventType,
		Meta: epc.WebhookMeta{
			ResourceType: resourceType,
			ResourceID:   resourceID,
			InstanceID:   t.product.Name,
			ResourceRef:  ref,
		},
	}
	body, _ := json.Marshal(wh)
	rec := &WebhookRecord{
		EventID:      wh.EventID,
		EventType:    eventType,
		ResourceType: resourceType,
		ResourceID:   resourceID,
		Queued:       wh.EventTime,
		Attempts:     []core.Attempt{},
		Outcome:      core.OutcomePending,
		body:         body,
	}
	t.webhooks = append(t.webhooks, rec)
	if t.announced && e.rt.Hooks().Behavior().FirstOnly {
		rec.Outcome, rec.body = core.OutcomeWithheld, nil
		e.rt.Log.Info("sandbox: webhook withheld (firstOnly)", "transaction", t.id, "webhook", eventType+" "+resourceType)
		return
	}
	rec.Copies = e.rt.Hooks().Send(e.delivery(t, rec))
	if rec.Copies == 0 {
		rec.Outcome = core.OutcomeAbandoned
		rec.body = nil
	}
}

// delivery is the signed post of rec's body; its callbacks record every try in rec. Caller
// holds t.mu.
func (e *EPC) delivery(t *txState, rec *WebhookRecord) *core.Delivery {
	header := http.Header{
		"Content-Type": {"application/json"},
		http.CanonicalHeaderKey(e.cfg.Vocabulary.Get(vocab.WebhookSignatureHeader)): {epc.Sign(t.product.SigningKey, rec.body)},
		"Elli-Environment":    {"prod"},
		"Elli-Subscriptionid": {t.product.ID},
	}
	var urls []string
	for _, u := range e.cfg.PartnerURLs {
		urls = append(urls, u+"/webhooks/epc")
	}
	return &core.Delivery{
		URL:    e.cfg.PartnerURL + "/webhooks/epc",
		URLs:   urls,
		Header: header,
		Body:   rec.body,
		What:   rec.EventType + " " + rec.ResourceType + " " + rec.ResourceID,
		OnAttempt: func(a core.Attempt) {
			t.mu.Lock()
			rec.Attempts = append(rec.Attempts, a)
			t.mu.Unlock()
			e.rt.Touch()
		},
		OnSettled: func(copy int, outcome string) {
			t.mu.Lock()
			rec.settle(copy, outcome)
			t.mu.Unlock()
			e.rt.Touch()
		},
	}
}

// requeuePending queues again every webhook copy that was not settled when the state was
// saved, and returns how many webhooks it queued.
func (e *EPC) requeuePending() int {
	n := 0
	for _, t := range e.st.transactions() {
		t.mu.Lock()
		for _, rec := range t.webhooks {
			if rec.Outcome != core.OutcomePending {
				continue
			}
			copies := rec.settled.Unsettled(rec.Copies)
			if len(copies) > 0 && e.rt.Hooks().Requeue(e.delivery(t, rec), copies) > 0 {
				n++
			}
		}
		t.mu.Unlock()
	}
	return n
}
