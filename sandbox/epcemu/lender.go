package epcemu

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/sandbox/internal/core"
	"github.com/epcflow/epcflow/schemas"
	"github.com/epcflow/epcflow/vocab"
)

// Lender control routes. Fault rules touch them only when they name them.
const (
	RouteCreateTx        = "POST /sandbox/epc/transactions"
	RouteListTx          = "GET /sandbox/epc/transactions"
	RouteGetTx           = "GET /sandbox/epc/transactions/{id}"
	RoutePatchRequest    = "PATCH /sandbox/epc/transactions/{id}/request"
	RouteCancel          = "POST /sandbox/epc/transactions/{id}/cancel"
	RouteResourceContent = "GET /sandbox/epc/transactions/{id}/resources/{resourceId}/content"
	RouteMappingsGet     = "GET /sandbox/epc/service-event-mappings"
	RouteMappingsPut     = "PUT /sandbox/epc/service-event-mappings"
	RouteProducts        = "GET /sandbox/epc/products"
	RouteEntitlementsGet = "GET /sandbox/epc/products/{name}/entitlements"
	RouteEntitlementsPut = "PUT /sandbox/epc/products/{name}/entitlements"
)

// mountLender registers the lender's control API.
func (e *EPC) mountLender() {
	for route, h := range map[string]core.HandlerFunc{
		RouteCreateTx:        e.createTransaction,
		RouteListTx:          e.listTransactions,
		RouteGetTx:           e.getControlTransaction,
		RoutePatchRequest:    e.patchRequest,
		RouteCancel:          e.cancel,
		RouteResourceContent: e.resourceContent,
		RouteMappingsGet:     e.getMappings,
		RouteMappingsPut:     e.putMappings,
		RouteProducts:        e.listProducts,
		RouteEntitlementsGet: e.getEntitlements,
		RouteEntitlementsPut: e.putEntitlements,
	} {
		e.rt.Handle(route, core.RouteExplicit, h, nil)
	}
}

// order is a checked POST /sandbox/epc/transactions body.
type order struct {
	request     map[string]json.RawMessage
	attachments []newAttachment
	product     string
	clientID    string
}

// parseOrder checks an order {"request": {type, loan?, credentials?, requestingParty?,
// options?, resources?}, "product"?: {"name"}, "clientId"?}.
func parseOrder(obj map[string]json.RawMessage) (order, core.Problems) {
	var ps core.Problems
	o := order{product: DefaultProduct, clientID: DefaultLenderClientID}
	core.UnknownKeys(obj, "", &ps, "request", "product", "clientId")
	if raw, ok := obj["request"]; !ok {
		ps.Add("/request", "required: {type, loan?, credentials?, requestingParty?, options?, resources?}")
	} else if req, ok := core.DecodeObject(raw, "/request", &ps); ok {
		o.request = req
		o.attachments = checkRequest(req, "/request", false, &ps)
	}
	if pm, ok := member(obj, "product", "", &ps); ok {
		core.UnknownKeys(pm, "/product", &ps, "name")
		if n, ok := core.NonEmptyString(pm, "name", "/product", &ps); ok {
			o.product = n
		}
	}
	if raw, ok := obj["clientId"]; ok {
		if c, ok := core.StringValue(raw, "/clientId", &ps, true); ok {
			o.clientID = c
		}
	}
	return o, ps
}

// createTransaction is POST /sandbox/epc/transactions: the lender orders. The partner gets a
// `created` transaction webhook and the request:created event's webhook.
func (e *EPC) createTransaction(w http.ResponseWriter, r *http.Request) error {
	const what = "invalid transaction"
	obj, err := core.ReadObject(r, false, what)
	if err != nil {
		return err
	}
	o, ps := parseOrder(obj)
	if err := core.InvalidIf(what, ps); err != nil {
		return err
	}
	p, _ := e.st.productOrNew(o.product, e.cfg.SigningKey)
	base := e.rt.BaseURL(r)
	req := o.request
	delete(req, "resources")
	if _, ok := req["loan"]; ok {
		if _, ok := req["loanFormat"]; !ok {
			req["loanFormat"], _ = json.Marshal(epc.LoanFormatPLM)
		}
	}
	t := &txState{
		id:       core.NewUUID(),
		status:   epc.TransactionPending,
		clientID: o.clientID,
		created:  e.now(),
		entityRef: epc.EntityRef{
			EntityID:   "urn:elli:encompass:BE11172718:loan:" + core.NewUUID(),
			EntityType: "urn:elli:encompass:loan",
		},
		product: p,
		request: req,
	}
	_ = json.Unmarshal(req["type"], &t.requestType)
	e.addAttachments(t, o.attachments, base)
	created := e.appendEvent(t, epc.Event{Text: "Transaction Request Created", Type: epc.EventRequestCreated, From: "System"})
	// Publish before any webhook leaves: the partner reads the transaction on receipt.
	e.st.addTx(t)
	t.mu.Lock()
	e.notifyTransaction(t, base, epc.WebhookCreated)
	e.notifyEvent(t, base, created.ID)
	t.announced = true
	out := t.partnerJSON()
	t.mu.Unlock()
	e.rt.Log.Info("sandbox: transaction created", "transaction", t.id, "product", p.Name, "type", t.requestType)
	w.Header().Set("Location", base+"/sandbox/epc/transactions/"+t.id)
	core.WriteRawJSON(w, http.StatusCreated, out)
	return nil
}

// TransactionSummary is one line of GET /sandbox/epc/transactions: the lender's list.
type TransactionSummary struct {
	ID              string    `json:"id"`
	Status          string    `json:"status"`
	ResponseStatus  string    `json:"responseStatus,omitempty"`
	CancelRequested bool      `json:"cancelRequested,omitempty"`
	Product         string    `json:"product"`
	Type            string    `json:"type"`
	Created         time.Time `json:"created"`
}

func (e *EPC) listTransactions(w http.ResponseWriter, r *http.Request) error {
	txs := e.st.transactions()
	out := make([]TransactionSummary, 0, len(txs))
	for _, t := range txs {
		t.mu.Lock()
		sum := TransactionSummary{
			ID: t.id, Status: t.status, CancelRequested: t.cancelRequested,
			Product: t.product.Name, Type: t.requestType, Created: t.created,
		}
		_ = json.Unmarshal(t.response["status"], &sum.ResponseStatus)
		t.mu.Unlock()
		out = append(out, sum)
	}
	core.WriteJSON(w, http.StatusOK, out)
	return nil
}

// ControlView is the transaction with everything the sandbox recorded about it.
type ControlView struct {
	TransactionView
	CancelRequested bool              `json:"cancelRequested"`
	ClosedBy        string            `json:"closedBy,omitempty"`
	ResponseHistory []json.RawMessage `json:"responseHistory"`
	Attachments     []ResourceView    `json:"attachments"`
	Resources       []ResourceView    `json:"resources"`
	Webhooks        []*WebhookRecord  `json:"webhooks"`
	PartnerCalls    []core.Call       `json:"partnerCalls"`
	// PartnerCallsDropped counts the oldest calls dropped to bound memory.
	PartnerCallsDropped int `json:"partnerCallsDropped,omitempty"`
}

// control renders t for the lender. Caller holds t.mu.
func (t *txState) control() ControlView {
	v := ControlView{
		TransactionView:     t.partnerView(),
		CancelRequested:     t.cancelRequested,
		ClosedBy:            t.closedBy,
		ResponseHistory:     orEmpty(t.responseHistory),
		Attachments:         []ResourceView{},
		Resources:           []ResourceView{},
		Webhooks:            orEmpty(t.webhooks),
		PartnerCalls:        orEmpty(t.calls.Calls),
		PartnerCallsDropped: t.calls.Dropped,
	}
	for _, m := range t.attachments {
		v.Attachments = append(v.Attachments, m.view())
	}
	for _, m := range t.resources {
		v.Resources = append(v.Resources, m.view())
	}
	return v
}

// orEmpty is s, or an empty slice for nil (JSON [] rather than null).
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (e *EPC) getControlTransaction(w http.ResponseWriter, r *http.Request) error {
	// Encoded under t.mu: webhook records change as deliveries go.
	return e.serveTx(w, r, func(t *txState) ([]byte, error) { return json.Marshal(t.control()) })
}

// resourceContent is GET /sandbox/epc/transactions/{id}/resources/{resourceId}/content: the
// bytes the partner uploaded (or a lender attachment), for the lender's eyes.
func (e *EPC) resourceContent(w http.ResponseWriter, r *http.Request) error {
	t, err := e.lookup(r)
	if err != nil {
		return err
	}
	id := r.PathValue("resourceId")
	m := e.st.mediaByID(id)
	if m == nil || m.tx != t {
		return core.NotFound("resource %s not found in transaction %s", core.QuoteShort(id), t.id)
	}
	data, _, err := m.bytes("")
	if err != nil {
		return err
	}
	m.serve(w, r, data)
	return nil
}

// patchRequest is PATCH /sandbox/epc/transactions/{id}/request: a JSON merge patch (RFC 7386)
// of the request. [ours] `resources` entries are new attachments, added to the existing ones.
// The partner gets the request:updated event's webhook and an `updated` transaction webhook.
func (e *EPC) patchRequest(w http.ResponseWriter, r *http.Request) error {
	const what = "invalid request patch"
	t, obj, err := e.lookupObject(r, false, what)
	if err != nil {
		return err
	}
	var ps core.Problems
	atts := checkRequest(obj, "", true, &ps)
	if len(ps) == 0 && len(obj) == 0 {
		ps.Add("", "must not be empty: send at least one member")
	}
	if err := core.InvalidIf(what, ps); err != nil {
		return err
	}
	base := e.rt.BaseURL(r)
	check := func() error { return t.requestUpdateError("updated") }
	return e.lenderChange(w, t, check, func() epc.Event {
		for k, v := range obj {
			switch {
			case k == "resources":
			case schemas.JSONKind(v) == "null":
				delete(t.request, k)
			default:
				t.request[k] = mergePatch(t.request[k], v)
			}
		}
		_ = json.Unmarshal(t.request["type"], &t.requestType)
		e.addAttachments(t, atts, base)
		return epc.Event{Text: "Transaction Request Updated", Type: e.cfg.Vocabulary.Get(vocab.EventRequestUpdated), From: "System"}
	}, base)
}

// cancel is POST /sandbox/epc/transactions/{id}/cancel, optional body {"comments"}: the lender
// cancels. [ours] a request:canceled event from the lender, its webhook, and an `updated`
// transaction webhook; the transaction stays pending until the partner answers.
func (e *EPC) cancel(w http.ResponseWriter, r *http.Request) error {
	const what = "invalid cancel body"
	t, obj, err := e.lookupObject(r, true, what)
	if err != nil {
		return err
	}
	var ps core.Problems
	comments := ""
	core.DecodeFields(obj, "", &ps, map[string]any{"comments": &comments})
	if err := core.InvalidIf(what, ps); err != nil {
		return err
	}
	base := e.rt.BaseURL(r)
	return e.lenderChange(w, t, t.cancelError, func() epc.Event {
		t.cancelRequested = true
		return epc.Event{Text: "Transaction Request Canceled", Type: e.cfg.Vocabulary.Get(vocab.EventRequestCanceled), From: t.lenderName(), Comments: comments}
	}, base)
}

// lenderChange makes a lender's change to t unless check refuses it: change applies it and
// returns its event, which the partner hears of, and of the transaction `updated`. The reply
// is the transaction.
func (e *EPC) lenderChange(w http.ResponseWriter, t *txState, check func() error, change func() epc.Event, base string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := check(); err != nil {
		return err
	}
	ev := e.appendEvent(t, change())
	e.notifyEvent(t, base, ev.ID)
	e.notifyTransaction(t, base, epc.WebhookUpdated)
	core.WriteRawJSON(w, http.StatusOK, t.partnerJSON())
	return nil
}
