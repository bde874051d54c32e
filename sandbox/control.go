package sandbox

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/schemas"
)

// Control routes (no authentication: the sandbox is a local tool). Fault rules touch them only
// when they name them.
const (
	routeFaultsGet       = "GET /sandbox/faults"
	routeFaultsPut       = "PUT /sandbox/faults"
	routeFaultsDelete    = "DELETE /sandbox/faults"
	routeBehaviorGet     = "GET /sandbox/webhooks/behavior"
	routeBehaviorPut     = "PUT /sandbox/webhooks/behavior"
	routeCreateTx        = "POST /sandbox/epc/transactions"
	routeListTx          = "GET /sandbox/epc/transactions"
	routeGetTx           = "GET /sandbox/epc/transactions/{id}"
	routePatchRequest    = "PATCH /sandbox/epc/transactions/{id}/request"
	routeCancel          = "POST /sandbox/epc/transactions/{id}/cancel"
	routeResourceContent = "GET /sandbox/epc/transactions/{id}/resources/{resourceId}/content"
	routeMappingsGet     = "GET /sandbox/epc/service-event-mappings"
	routeMappingsPut     = "PUT /sandbox/epc/service-event-mappings"
	routeProducts        = "GET /sandbox/epc/products"
	routeEntitlementsGet = "GET /sandbox/epc/products/{name}/entitlements"
	routeEntitlementsPut = "PUT /sandbox/epc/products/{name}/entitlements"
)

// mountControl registers the control routes shared by every emulator.
func (s *Server) mountControl() {
	s.handle(routeFaultsGet, routeExplicit, handlerFunc(s.getFaults), nil)
	s.handle(routeFaultsPut, routeExplicit, handlerFunc(s.putFaults), nil)
	s.handle(routeFaultsDelete, routeExplicit, handlerFunc(s.deleteFaults), nil)
	s.handle(routeBehaviorGet, routeExplicit, handlerFunc(s.getWebhookBehavior), nil)
	s.handle(routeBehaviorPut, routeExplicit, handlerFunc(s.putWebhookBehavior), nil)
}

// mountControl registers the lender's control API.
func (e *EPC) mountControl() {
	s := e.s
	s.handle(routeCreateTx, routeExplicit, handlerFunc(e.createTransaction), nil)
	s.handle(routeListTx, routeExplicit, handlerFunc(e.listTransactions), nil)
	s.handle(routeGetTx, routeExplicit, handlerFunc(e.getControlTransaction), nil)
	s.handle(routePatchRequest, routeExplicit, handlerFunc(e.patchRequest), nil)
	s.handle(routeCancel, routeExplicit, handlerFunc(e.cancel), nil)
	s.handle(routeResourceContent, routeExplicit, handlerFunc(e.resourceContent), nil)
	s.handle(routeMappingsGet, routeExplicit, handlerFunc(e.getMappings), nil)
	s.handle(routeMappingsPut, routeExplicit, handlerFunc(e.putMappings), nil)
	s.handle(routeProducts, routeExplicit, handlerFunc(e.listProducts), nil)
	s.handle(routeEntitlementsGet, routeExplicit, handlerFunc(e.getEntitlements), nil)
	s.handle(routeEntitlementsPut, routeExplicit, handlerFunc(e.putEntitlements), nil)
}

// requestKeys are the members a lender's request may have.
var requestKeys = []string{"type", "loanFormat", "loan", "credentials", "requestingParty", "options", "resources"}

// newAttachment is a lender attachment in a control body: {name, mimeType, content (base64)}.
type newAttachment struct {
	name, mimeType string
	data           []byte
}

// checkRequest validates a request (patch: a JSON merge patch of one) and returns the
// attachments it carries.
func checkRequest(obj map[string]json.RawMessage, ptr string, patch bool, ps *problems) []newAttachment {
	unknownKeys(obj, ptr, ps, requestKeys...)
	var atts []newAttachment
	for _, k := range sortedKeys(obj) {
		raw, kptr := obj[k], pointer(ptr, k)
		if schemas.JSONKind(raw) == "null" {
			switch {
			case !patch:
				ps.add(kptr, "must not be null")
			case k == "type":
				ps.add(kptr, "cannot be removed: a request always has a type")
			case k == "resources":
				ps.add(kptr, "lender attachments cannot be removed")
			}
			continue
		}
		switch k {
		case "type", "loanFormat":
			stringValue(raw, kptr, ps, true)
		case "loan", "options", "requestingParty":
			decodeObject(raw, kptr, ps)
		case "credentials":
			if c, ok := decodeObject(raw, kptr, ps); ok {
				unknownKeys(c, kptr, ps, "username", "password")
				for _, ck := range sortedKeys(c) {
					if !(patch && schemas.JSONKind(c[ck]) == "null") {
						stringValue(c[ck], pointer(kptr, ck), ps, false)
					}
				}
			}
		case "resources":
			atts = checkAttachments(raw, kptr, ps)
		}
	}
	if _, ok := obj["type"]; !ok && !patch {
		ps.add(pointer(ptr, "type"), "required: the request type, e.g. \"Appraisal\"")
	}
	return atts
}

func checkAttachments(raw json.RawMessage, ptr string, ps *problems) []newAttachment {
	var items []json.RawMessage
	if schemas.JSONKind(raw) != "array" || json.Unmarshal(raw, &items) != nil {
		ps.add(ptr, "must be an array of {name, mimeType, content (base64)}, got %s", schemas.JSONKind(raw))
		return nil
	}
	var out []newAttachment
	for i, item := range items {
		iptr := pointer(ptr, i)
		obj, ok := decodeObject(item, iptr, ps)
		if !ok {
			continue
		}
		unknownKeys(obj, iptr, ps, "name", "mimeType", "content")
		name, _ := nonEmptyString(obj, "name", iptr, ps)
		mt, ok := nonEmptyString(obj, "mimeType", iptr, ps)
		if ok && !validMediaType(mt) {
			ps.add(pointer(iptr, "mimeType"), "not a media type (type/subtype, e.g. application/pdf): %s", quoteShort(mt))
		}
		var data []byte
		if rc, ok := obj["content"]; !ok {
			ps.add(pointer(iptr, "content"), "required: the file's bytes, base64-encoded")
		} else if s, ok := stringValue(rc, pointer(iptr, "content"), ps, false); ok {
			var err error
			if data, err = base64.StdEncoding.DecodeString(s); err != nil {
				ps.add(pointer(iptr, "content"), "not valid base64: %v", err)
			}
		}
		out = append(out, newAttachment{name: name, mimeType: mt, data: data})
	}
	return out
}

// addAttachments stores lender files for t (not yet published, or t.mu held).
func (e *EPC) addAttachments(t *txState, atts []newAttachment, base string) {
	now := e.now()
	items := make([]*mediaItem, 0, len(atts))
	for _, a := range atts {
		id := newUUID()
		sum := sha256.Sum256(a.data)
		items = append(items, &mediaItem{
			tx: t, id: id, name: a.name, mimeType: a.mimeType, attachment: true,
			data: a.data, sha256: hex.EncodeToString(sum[:]), uploaded: true,
			location: base + mediaPath + id, created: now, uploadedAt: now,
		})
	}
	e.st.addMedia(items...)
	t.attachments = append(t.attachments, items...)
}

// createTransaction is POST /sandbox/epc/transactions: the lender orders. Body
// {"request": {type, loan?, credentials?, requestingParty?, options?, resources?},
// "product"?: {"name"}, "clientId"?}. The partner gets a `created` transaction webhook and
// the request:created event's webhook.
func (e *EPC) createTransaction(w http.ResponseWriter, r *http.Request) error {
	body, err := readJSON(r, false)
	if err != nil {
		return err
	}
	var ps problems
	obj, ok := decodeObject(body, "", &ps)
	if !ok {
		return invalid("invalid transaction", ps)
	}
	unknownKeys(obj, "", &ps, "request", "product", "clientId")
	var req map[string]json.RawMessage
	var atts []newAttachment
	if raw, ok := obj["request"]; !ok {
		ps.add("/request", "required: {type, loan?, credentials?, requestingParty?, options?, resources?}")
	} else if req, ok = decodeObject(raw, "/request", &ps); ok {
		atts = checkRequest(req, "/request", false, &ps)
	}
	productName := DefaultProduct
	if raw, ok := obj["product"]; ok {
		if pm, ok := decodeObject(raw, "/product", &ps); ok {
			unknownKeys(pm, "/product", &ps, "name")
			if n, ok := nonEmptyString(pm, "name", "/product", &ps); ok {
				productName = n
			}
		}
	}
	clientID := DefaultLenderClientID
	if raw, ok := obj["clientId"]; ok {
		if c, ok := stringValue(raw, "/clientId", &ps, true); ok {
			clientID = c
		}
	}
	if len(ps) > 0 {
		return invalid("invalid transaction", ps)
	}

	p, _ := e.st.productOrNew(productName, e.s.cfg.SigningKey)
	base := e.s.baseURL(r)
	delete(req, "resources")
	if _, ok := req["loan"]; ok {
		if _, ok := req["loanFormat"]; !ok {
			req["loanFormat"], _ = json.Marshal(epc.LoanFormatPLM)
		}
	}
	t := &txState{
		id:       newUUID(),
		status:   epc.TransactionPending,
		clientID: clientID,
		created:  e.now(),
		entityRef: epc.EntityRef{
			EntityID:   "urn:elli:encompass:BE11172718:loan:" + newUUID(),
			EntityType: "urn:elli:encompass:loan",
		},
		product: p,
		request: req,
	}
	_ = json.Unmarshal(req["type"], &t.requestType)
	e.addAttachments(t, atts, base)
	created := e.appendEvent(t, epc.Event{Text: "Transaction Request Created", Type: epc.EventRequestCreated, From: "System"})
	// Publish before any webhook leaves: the partner reads the transaction on receipt.
	e.st.addTx(t)
	t.mu.Lock()
	e.notifyTransaction(t, base, epc.WebhookCreated)
	e.notifyEvent(t, base, created.ID)
	out := t.partnerJSON()
	t.mu.Unlock()
	e.s.log.Info("sandbox: transaction created", "transaction", t.id, "product", p.Name, "type", t.requestType)
	w.Header().Set("Location", base+"/sandbox/epc/transactions/"+t.id)
	writeRawJSON(w, http.StatusCreated, out)
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
	e.st.mu.RLock()
	txs := append([]*txState(nil), e.st.order...)
	e.st.mu.RUnlock()
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
	writeJSON(w, http.StatusOK, out)
	return nil
}

// controlView is the transaction with everything the sandbox recorded about it.
type controlView struct {
	transactionView
	CancelRequested bool              `json:"cancelRequested"`
	ClosedBy        string            `json:"closedBy,omitempty"`
	ResponseHistory []json.RawMessage `json:"responseHistory"`
	Attachments     []resourceView    `json:"attachments"`
	Resources       []resourceView    `json:"resources"`
	Webhooks        []*webhookRecord  `json:"webhooks"`
	PartnerCalls    []partnerCall     `json:"partnerCalls"`
	// PartnerCallsDropped counts the oldest calls dropped to bound memory.
	PartnerCallsDropped int `json:"partnerCallsDropped,omitempty"`
}

func (e *EPC) getControlTransaction(w http.ResponseWriter, r *http.Request) error {
	t, err := e.lookup(r)
	if err != nil {
		return err
	}
	t.mu.Lock()
	v := controlView{
		transactionView:     t.partnerView(),
		CancelRequested:     t.cancelRequested,
		ClosedBy:            t.closedBy,
		ResponseHistory:     t.responseHistory,
		Attachments:         []resourceView{},
		Resources:           []resourceView{},
		Webhooks:            t.webhooks,
		PartnerCalls:        t.calls,
		PartnerCallsDropped: t.callsDropped,
	}
	if v.ResponseHistory == nil {
		v.ResponseHistory = []json.RawMessage{}
	}
	if v.Webhooks == nil {
		v.Webhooks = []*webhookRecord{}
	}
	if v.PartnerCalls == nil {
		v.PartnerCalls = []partnerCall{}
	}
	for _, m := range t.attachments {
		v.Attachments = append(v.Attachments, m.view())
	}
	for _, m := range t.resources {
		v.Resources = append(v.Resources, m.view())
	}
	body, err := json.Marshal(v) // under t.mu: webhook records change as deliveries go
	t.mu.Unlock()
	if err != nil {
		return err
	}
	writeRawJSON(w, http.StatusOK, body)
	return nil
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
		return notFound("resource %s not found in transaction %s", quoteShort(id), t.id)
	}
	t.mu.Lock()
	uploaded, data := m.uploaded, m.data
	t.mu.Unlock()
	if !uploaded {
		return notFound("resource %s has no bytes yet", id)
	}
	w.Header().Set("Content-Type", m.mimeType)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	_, _ = w.Write(data)
	return nil
}

// patchRequest is PATCH /sandbox/epc/transactions/{id}/request: a JSON merge patch (RFC 7386)
// of the request. [ours] `resources` entries are new attachments, added to the existing ones.
// The partner gets the request:updated event's webhook and an `updated` transaction webhook.
func (e *EPC) patchRequest(w http.ResponseWriter, r *http.Request) error {
	t, err := e.lookup(r)
	if err != nil {
		return err
	}
	body, err := readJSON(r, false)
	if err != nil {
		return err
	}
	var ps problems
	obj, ok := decodeObject(body, "", &ps)
	if !ok {
		return invalid("invalid request patch", ps)
	}
	atts := checkRequest(obj, "", true, &ps)
	if len(ps) > 0 {
		return invalid("invalid request patch", ps)
	}
	if len(obj) == 0 {
		return invalid("invalid request patch", problems{{Pointer: "", Message: "must not be empty: send at least one member"}})
	}
	base := e.s.baseURL(r)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.requestUpdateError("updated"); err != nil {
		return err
	}
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
	t.changed()
	ev := e.appendEvent(t, epc.Event{Text: "Transaction Request Updated", Type: epc.EventRequestUpdated, From: "System"})
	e.notifyEvent(t, base, ev.ID)
	e.notifyTransaction(t, base, epc.WebhookUpdated)
	writeRawJSON(w, http.StatusOK, t.partnerJSON())
	return nil
}

// mergePatch applies an RFC 7386 merge patch to target.
func mergePatch(target, patch json.RawMessage) json.RawMessage {
	if schemas.JSONKind(patch) != "object" {
		return patch
	}
	var tm map[string]json.RawMessage
	if schemas.JSONKind(target) != "object" || json.Unmarshal(target, &tm) != nil {
		tm = map[string]json.RawMessage{}
	}
	var pm map[string]json.RawMessage
	_ = json.Unmarshal(patch, &pm)
	for k, v := range pm {
		if schemas.JSONKind(v) == "null" {
			delete(tm, k)
		} else {
			tm[k] = mergePatch(tm[k], v)
		}
	}
	out, _ := json.Marshal(tm)
	return out
}

// cancel is POST /sandbox/epc/transactions/{id}/cancel, optional body {"comments"}: the lender
// cancels. [ours] a request:canceled event from the lender, its webhook, and an `updated`
// transaction webhook; the transaction stays pending until the partner answers.
func (e *EPC) cancel(w http.ResponseWriter, r *http.Request) error {
	t, err := e.lookup(r)
	if err != nil {
		return err
	}
	body, err := readJSON(r, true)
	if err != nil {
		return err
	}
	comments := ""
	if body != nil {
		var ps problems
		if obj, ok := decodeObject(body, "", &ps); ok {
			decodeFields(obj, "", &ps, map[string]any{"comments": &comments})
		}
		if len(ps) > 0 {
			return invalid("invalid cancel body", ps)
		}
	}
	base := e.s.baseURL(r)
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.closed():
		return conflict("transaction %s is completed (response status %s): it can no longer be canceled", t.id, t.closedBy)
	case t.cancelRequested:
		return conflict("transaction %s: cancellation already requested", t.id)
	}
	t.cancelRequested = true
	t.changed()
	ev := e.appendEvent(t, epc.Event{
		Text:     "Transaction Request Canceled",
		Type:     epc.EventRequestCanceled,
		From:     t.lenderName(),
		Comments: comments,
	})
	e.notifyEvent(t, base, ev.ID)
	e.notifyTransaction(t, base, epc.WebhookUpdated)
	writeRawJSON(w, http.StatusOK, t.partnerJSON())
	return nil
}

// lenderName is who the lender's events come from. Caller holds t.mu.
func (t *txState) lenderName() string {
	var party epc.Party
	if json.Unmarshal(t.request["requestingParty"], &party) == nil {
		if party.PointOfContact != nil && party.PointOfContact.Name != "" {
			return party.PointOfContact.Name
		}
		if party.Name != "" {
			return party.Name
		}
	}
	return "Lender"
}

// productView is a product in the control API (never its signing key).
type productView struct {
	Name         string          `json:"name"`
	ID           string          `json:"id"`
	PartnerID    string          `json:"partnerId"`
	Entitlements json.RawMessage `json:"entitlements"`
}

func (p *product) view() productView {
	return productView{Name: p.Name, ID: p.ID, PartnerID: p.PartnerID, Entitlements: p.entitlementData()}
}

func (e *EPC) listProducts(w http.ResponseWriter, r *http.Request) error {
	ps := e.st.productList()
	out := make([]productView, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.view())
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (e *EPC) getEntitlements(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	p := e.st.product(name)
	if p == nil {
		return notFound("product %s not found", quoteShort(name))
	}
	writeRawJSON(w, http.StatusOK, p.entitlementData())
	return nil
}

// putEntitlements is PUT /sandbox/epc/products/{name}/entitlements: the product's
// entitlements data object, replacing the previous one; the product is created if new
// [ours: an optional top-level "signingKey" gives a new product its own webhook key].
func (e *EPC) putEntitlements(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	body, err := readJSON(r, false)
	if err != nil {
		return err
	}
	data, key, ps := parseEntitlements(body)
	if len(ps) > 0 {
		return invalid("invalid entitlements", ps)
	}
	explicitKey := key
	if key == "" {
		key = e.s.cfg.SigningKey
	}
	p, created := e.st.productOrNew(name, key)
	if !created && explicitKey != "" && p.SigningKey != explicitKey {
		return conflict("product %s already exists with another signing key: keys cannot change", quoteShort(name))
	}
	if err := p.setEntitlements(data); err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, p.view())
	return nil
}
