package sandbox

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/epcflow/epcflow/epc"
)

// EPC emulates Encompass Partner Connect: the Partner API v2 at its real paths, the lender
// (through the control API under /sandbox/epc/), and the webhooks the platform sends.
//
// Partner API (bearer token from POST /oauth2/v1/token):
//
//	GET   /partner/v2/transactions/{id}                      transaction (seed 002 shape)
//	GET   /partner/v2/transactions/{id}/request              request, credentials included
//	GET   /partner/v2/transactions/{id}/request/resources    lender attachments [{id,name,mimeType,url}]
//	PATCH /partner/v2/transactions/{id}/response             204; 400/403/409 as documented
//	POST  /partner/v2/transactions/{id}/response/resources   201 upload slots
//	GET   /partner/v2/transactions/{id}/events               events, in order
//	POST  /partner/v2/transactions/{id}/events               201 stored event
//	GET   /partner/v2/transactions/{id}/events/{eventId}
//	PUT   /sandbox/media/{id}                                upload bytes (slot authorization)
//	GET   /sandbox/media/{id}                                download (token, or slot authorization)
//
// Lender control API (JSON, no authentication):
//
//	POST  /sandbox/epc/transactions                          order: {request, product?, clientId?}
//	GET   /sandbox/epc/transactions                          summaries
//	GET   /sandbox/epc/transactions/{id}                     everything recorded
//	PATCH /sandbox/epc/transactions/{id}/request             JSON merge patch of the request
//	POST  /sandbox/epc/transactions/{id}/cancel              {"comments"?}
//	GET   /sandbox/epc/transactions/{id}/resources/{rid}/content
//	GET|PUT /sandbox/epc/service-event-mappings
//	GET   /sandbox/epc/products
//	GET|PUT /sandbox/epc/products/{name}/entitlements
//
// The Server adds GET|PUT|DELETE /sandbox/faults and GET|PUT /sandbox/webhooks/behavior.
//
// Choices where the platform is not documented ([ours], kept here in one place):
//   - POST …/events answers 201 with the stored event, `from` set to the product's name.
//   - Events the partner creates are not echoed back as webhooks; every other new event
//     (system or lender) yields an urn:elli:epc:transaction:event `created` webhook.
//   - A lender cancellation is an urn:elli:epc:transaction:request:canceled event plus an
//     `updated` transaction webhook. It does not close the transaction: the partner closes it
//     by answering status `canceled` (or completed/failed). Until then the lender can neither
//     cancel again nor update the request.
//   - CREATE_SERVICE_EVENTS outcomes list unmapped codes in a `skipped` group.
//   - A transaction's entitlement key "*" applies to every request type.
type EPC struct {
	s   *Server
	st  *store
	tok *tokens
}

func newEPC(s *Server) *EPC {
	e := &EPC{s: s, st: newStore(), tok: newTokens(s.cfg)}
	p, _ := e.st.productOrNew(DefaultProduct, s.cfg.SigningKey)
	data := json.RawMessage(`{"transaction":{"*":{"response":{"results":[{"action":"` +
		epc.ActionCreateServiceEvents + `","formats":["` + epc.FormatServiceEvents + `"]}]}}}}`)
	if err := p.setEntitlements(data); err != nil {
		panic("sandbox: default entitlements: " + err.Error()) // a bug in the literal above
	}
	return e
}

// Partner API routes. Their patterns double as the route names of fault rules.
const (
	routeToken            = "POST /oauth2/v1/token"
	routeGetTransaction   = "GET /partner/v2/transactions/{id}"
	routeGetRequest       = "GET /partner/v2/transactions/{id}/request"
	routeRequestResources = "GET /partner/v2/transactions/{id}/request/resources"
	routePatchResponse    = "PATCH /partner/v2/transactions/{id}/response"
	routeCreateResources  = "POST /partner/v2/transactions/{id}/response/resources"
	routeListEvents       = "GET /partner/v2/transactions/{id}/events"
	routeCreateEvent      = "POST /partner/v2/transactions/{id}/events"
	routeGetEvent         = "GET /partner/v2/transactions/{id}/events/{eventId}"
	routePutMedia         = "PUT /sandbox/media/{id}"
	routeGetMedia         = "GET /sandbox/media/{id}"
)

// mediaPath is where stored files are served; {PublicURL}{mediaPath}{id}.
const mediaPath = "/sandbox/media/"

func (e *EPC) mount() {
	s := e.s
	s.handle(routeToken, routeExplicit, http.HandlerFunc(e.tok.serveToken), nil)
	partner := func(route string, h handlerFunc) {
		s.handle(route, routePlatform, e.tok.requireToken(h), e.recordTxCall)
	}
	partner(routeGetTransaction, e.getTransaction)
	partner(routeGetRequest, e.getRequest)
	partner(routeRequestResources, e.listRequestResources)
	partner(routePatchResponse, e.patchResponse)
	partner(routeCreateResources, e.createResources)
	partner(routeListEvents, e.listEvents)
	partner(routeCreateEvent, e.createEvent)
	partner(routeGetEvent, e.getEvent)
	// Media routes check their own authorization (an upload grant or a bearer token).
	s.handle(routePutMedia, routePlatform, handlerFunc(e.putMedia), e.recordMediaCall)
	s.handle(routeGetMedia, routePlatform, handlerFunc(e.getMedia), e.recordMediaCall)
	e.mountControl()
}

// recordTxCall logs a Partner API call in its transaction's partnerCalls.
func (e *EPC) recordTxCall(r *http.Request, sw *statusWriter) {
	if t := e.st.tx(r.PathValue("id")); t != nil {
		e.record(t, r, sw)
	}
}

// recordMediaCall logs an upload or download in the transaction that owns the file.
func (e *EPC) recordMediaCall(r *http.Request, sw *statusWriter) {
	if m := e.st.mediaByID(r.PathValue("id")); m != nil {
		e.record(m.tx, r, sw)
	}
}

func (e *EPC) record(t *txState, r *http.Request, sw *statusWriter) {
	c := partnerCall{Method: r.Method, Path: r.URL.Path, Status: sw.status, At: e.s.now().UTC(), Fault: sw.fault}
	t.mu.Lock()
	t.recordCall(c)
	t.mu.Unlock()
}

// lookup finds the transaction named in the path.
func (e *EPC) lookup(r *http.Request) (*txState, error) {
	id := r.PathValue("id")
	if t := e.st.tx(id); t != nil {
		return t, nil
	}
	return nil, notFound("transaction %s not found", quoteShort(id))
}

// now is the sandbox clock in UTC at millisecond precision (what the JSON shows).
func (e *EPC) now() time.Time { return e.s.now().UTC().Truncate(time.Millisecond) }

// transactionView is the transaction as GET /partner/v2/transactions/{id} shows it (seed 002).
type transactionView struct {
	ID          string          `json:"id"`
	Status      string          `json:"status"`
	ClientID    string          `json:"clientId"`
	Environment string          `json:"environment"`
	Application string          `json:"application"`
	OrderType   string          `json:"orderType"`
	Created     time.Time       `json:"created"`
	CreatedBy   string          `json:"createdBy"`
	EntityRef   epc.EntityRef   `json:"entityRef"`
	Product     epc.Product     `json:"product"`
	Request     json.RawMessage `json:"request"`
	Response    json.RawMessage `json:"response,omitempty"`
	Events      []epc.Event     `json:"events"`
}

// partnerView renders t for the partner. Caller holds t.mu.
func (t *txState) partnerView() transactionView {
	v := transactionView{
		ID:          t.id,
		Status:      t.status,
		ClientID:    t.clientID,
		Environment: "sandbox",
		Application: "epcflow sandbox",
		OrderType:   "MANUAL",
		Created:     t.created,
		CreatedBy:   "urn:elli:service:epcflow-sandbox",
		EntityRef:   t.entityRef,
		Product:     t.product.ref(),
		Request:     t.requestJSON(),
		Events:      t.events,
	}
	if v.Events == nil {
		v.Events = []epc.Event{}
	}
	if t.response != nil {
		v.Response, _ = json.Marshal(t.response)
	}
	return v
}

// partnerJSON is the cached encoding of partnerView. Caller holds t.mu.
func (t *txState) partnerJSON() []byte {
	if t.view == nil {
		t.view, _ = json.Marshal(t.partnerView())
	}
	return t.view
}

// requestJSON renders the request with its attachments as resources. Caller holds t.mu.
func (t *txState) requestJSON() json.RawMessage {
	m := t.request
	if len(t.attachments) > 0 {
		m = make(map[string]json.RawMessage, len(t.request)+1)
		for k, v := range t.request {
			m[k] = v
		}
		m["resources"], _ = json.Marshal(t.attachmentList())
	}
	b, _ := json.Marshal(m)
	return b
}

// attachmentList is the lender's attachments as the partner sees them. Caller holds t.mu.
func (t *txState) attachmentList() []epc.Resource {
	out := make([]epc.Resource, 0, len(t.attachments))
	for _, m := range t.attachments {
		out = append(out, epc.Resource{ID: m.id, Name: m.name, MimeType: m.mimeType, URL: m.location})
	}
	return out
}

func (e *EPC) getTransaction(w http.ResponseWriter, r *http.Request) error {
	t, err := e.lookup(r)
	if err != nil {
		return err
	}
	t.mu.Lock()
	body := t.partnerJSON()
	t.mu.Unlock()
	writeRawJSON(w, http.StatusOK, body)
	return nil
}

func (e *EPC) getRequest(w http.ResponseWriter, r *http.Request) error {
	t, err := e.lookup(r)
	if err != nil {
		return err
	}
	t.mu.Lock()
	body := t.requestJSON()
	t.mu.Unlock()
	writeRawJSON(w, http.StatusOK, body)
	return nil
}

func (e *EPC) listRequestResources(w http.ResponseWriter, r *http.Request) error {
	t, err := e.lookup(r)
	if err != nil {
		return err
	}
	t.mu.Lock()
	list := t.attachmentList()
	t.mu.Unlock()
	writeJSON(w, http.StatusOK, list)
	return nil
}

// appendEvent fills in ev's id and sent time and appends it. Caller holds t.mu (or t is not
// published yet).
func (e *EPC) appendEvent(t *txState, ev epc.Event) epc.Event {
	if ev.ID == "" {
		ev.ID = newUUID()
	}
	if ev.Sent == nil {
		now := e.now()
		ev.Sent = &now
	}
	t.events = append(t.events, ev)
	t.changed()
	return ev
}

// addEvent appends ev and, unless the partner sent it, posts its event webhook. Caller holds
// t.mu.
func (e *EPC) addEvent(t *txState, ev epc.Event, base string, fromPartner bool) epc.Event {
	ev = e.appendEvent(t, ev)
	if !fromPartner {
		e.notifyEvent(t, base, ev.ID)
	}
	return ev
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
func (e *EPC) notify(t *txState, base, eventType, resourceType, resourceID, ref string) {
	wh := epc.Webhook{
		EventID:   newUUID(),
		EventTime: e.now(),
		EventType: eventType,
		Meta: epc.WebhookMeta{
			ResourceType: resourceType,
			ResourceID:   resourceID,
			InstanceID:   t.clientID,
			ResourceRef:  ref,
		},
	}
	body, _ := json.Marshal(wh)
	rec := &webhookRecord{
		EventID:      wh.EventID,
		EventType:    eventType,
		ResourceType: resourceType,
		ResourceID:   resourceID,
		Queued:       wh.EventTime,
		Attempts:     []webhookAttempt{},
		Outcome:      outcomePending,
		body:         body,
	}
	t.webhooks = append(t.webhooks, rec)
	rec.Copies = e.s.hooks.send(e.delivery(t, rec))
	if rec.Copies == 0 {
		rec.Outcome = outcomeAbandoned
		rec.body = nil
	}
}

// delivery is the signed post of rec's body; its callbacks record every try in rec. Caller
// holds t.mu.
func (e *EPC) delivery(t *txState, rec *webhookRecord) *delivery {
	header := http.Header{
		"Content-Type":        {"application/json"},
		"Elli-Signature":      {epc.Sign(t.product.SigningKey, rec.body)},
		"Elli-Environment":    {"prod"},
		"Elli-Subscriptionid": {t.product.ID},
	}
	return &delivery{
		url:    e.s.cfg.PartnerURL + "/webhooks/epc",
		header: header,
		body:   rec.body,
		what:   rec.EventType + " " + rec.ResourceType + " " + rec.ResourceID,
		onAttempt: func(a webhookAttempt) {
			t.mu.Lock()
			rec.Attempts = append(rec.Attempts, a)
			t.mu.Unlock()
			e.s.touch()
		},
		onSettled: func(copy int, outcome string) {
			t.mu.Lock()
			rec.settle(copy, outcome)
			t.mu.Unlock()
			e.s.touch()
		},
	}
}

// findEvent returns the event with id. Caller holds t.mu.
func (t *txState) findEvent(id string) (epc.Event, bool) {
	i := slices.IndexFunc(t.events, func(ev epc.Event) bool { return ev.ID == id })
	if i < 0 {
		return epc.Event{}, false
	}
	return t.events[i], true
}
