package epcemu

import (
	"encoding/json"
	"maps"
	"net/http"
	"time"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/sandbox/internal/core"
)

// TransactionView is the transaction as GET /partner/v2/transactions/{id} shows it (seed 002).
type TransactionView struct {
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
func (t *txState) partnerView() TransactionView {
	v := TransactionView{
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
		Events:      t.eventList(),
	}
	if t.response != nil {
		v.Response, _ = json.Marshal(t.response)
	}
	return v
}

// eventList is t's events, never nil. Caller holds t.mu.
func (t *txState) eventList() []epc.Event {
	if t.events == nil {
		return []epc.Event{}
	}
	return t.events
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
		m = maps.Clone(t.request)
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

// serveTx answers with what render encodes of the transaction named in the path, under its
// lock (what it renders may share state that changes).
func (e *EPC) serveTx(w http.ResponseWriter, r *http.Request, render func(t *txState) ([]byte, error)) error {
	t, err := e.lookup(r)
	if err != nil {
		return err
	}
	t.mu.Lock()
	body, err := render(t)
	t.mu.Unlock()
	if err != nil {
		return err
	}
	core.WriteRawJSON(w, http.StatusOK, body)
	return nil
}

func (e *EPC) getTransaction(w http.ResponseWriter, r *http.Request) error {
	return e.serveTx(w, r, func(t *txState) ([]byte, error) { return t.partnerJSON(), nil })
}

func (e *EPC) getRequest(w http.ResponseWriter, r *http.Request) error {
	return e.serveTx(w, r, func(t *txState) ([]byte, error) { return t.requestJSON(), nil })
}

func (e *EPC) listRequestResources(w http.ResponseWriter, r *http.Request) error {
	return e.serveTx(w, r, func(t *txState) ([]byte, error) { return json.Marshal(t.attachmentList()) })
}

func (e *EPC) listEvents(w http.ResponseWriter, r *http.Request) error {
	return e.serveTx(w, r, func(t *txState) ([]byte, error) { return json.Marshal(t.eventList()) })
}

// appendEvent fills in ev's id and sent time and appends it. Caller holds t.mu (or t is not
// published yet).
func (e *EPC) appendEvent(t *txState, ev epc.Event) epc.Event {
	if ev.ID == "" {
		ev.ID = core.NewUUID()
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

// findEvent returns the event with id. Caller holds t.mu.
func (t *txState) findEvent(id string) (epc.Event, bool) {
	for _, ev := range t.events {
		if ev.ID == id {
			return ev, true
		}
	}
	return epc.Event{}, false
}

func (e *EPC) getEvent(w http.ResponseWriter, r *http.Request) error {
	t, err := e.lookup(r)
	if err != nil {
		return err
	}
	id := r.PathValue("eventId")
	t.mu.Lock()
	ev, ok := t.findEvent(id)
	t.mu.Unlock()
	if !ok {
		return core.NotFound("event %s not found in transaction %s", core.QuoteShort(id), t.id)
	}
	core.WriteJSON(w, http.StatusOK, ev)
	return nil
}
