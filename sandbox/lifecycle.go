package sandbox

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/schemas"
)

// The life-cycle as documented (seed 002): a transaction is pending while open; a response
// status of completed, failed or canceled sets it to completed, after which neither side may
// update it. Events may still be exchanged.

// closeBy applies a response status: a closing status completes the transaction. Caller
// holds t.mu.
func (t *txState) closeBy(responseStatus string) {
	if epc.IsClosingStatus(responseStatus) && !t.closed() {
		t.status = epc.TransactionCompleted
		t.closedBy = responseStatus
		t.changed()
	}
}

// responseUpdateError is the 409 for a partner change after the transaction closed. Caller
// holds t.mu.
func (t *txState) responseUpdateError(what string) error {
	if !t.closed() {
		return nil
	}
	return conflict("transaction %s is completed (response status %s): no further %s", t.id, t.closedBy, what)
}

// requestUpdateError is the 409 for a lender change after the transaction closed or once a
// cancellation is pending. Caller holds t.mu.
func (t *txState) requestUpdateError(what string) error {
	switch {
	case t.closed():
		return conflict("transaction %s is completed (response status %s): the request can no longer be %s",
			t.id, t.closedBy, what)
	case t.cancelRequested:
		return conflict("transaction %s has a cancellation pending: the request can no longer be %s", t.id, what)
	}
	return nil
}

// setEntitlements replaces the product's entitlements data (already validated).
func (p *product) setEntitlements(data json.RawMessage) error {
	var parsed struct {
		Transaction map[string]struct {
			Response struct {
				Results []resultEntitlement `json:"results"`
			} `json:"response"`
		} `json:"transaction"`
	}
	if err := json.Unmarshal(data, &parsed); err != nil {
		return err
	}
	results := map[string][]resultEntitlement{}
	for reqType, te := range parsed.Transaction {
		results[reqType] = te.Response.Results
	}
	p.mu.Lock()
	p.entitlements = data
	p.results = results
	p.mu.Unlock()
	return nil
}

func (p *product) entitlementData() json.RawMessage {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.entitlements == nil {
		return json.RawMessage(`{}`)
	}
	return p.entitlements
}

// checkEntitled is the 403 unless the product may answer requestType with action in format.
// The request-type key "*" [ours] entitles every request type.
func (p *product) checkEntitled(requestType, action, format string) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var formats []string
	found := false
	for _, key := range []string{requestType, "*"} {
		for _, re := range p.results[key] {
			if re.Action == action {
				found = true
				formats = append(formats, re.Formats...)
			}
		}
	}
	if !found {
		return errorf(http.StatusForbidden, codeForbidden,
			"product %s is not entitled to result action %s for request type %s",
			quoteShort(p.Name), action, quoteShort(requestType))
	}
	if !slices.Contains(formats, format) {
		return errorf(http.StatusForbidden, codeForbidden,
			"product %s is not entitled to format %s for result action %s and request type %s (entitled formats: %v)",
			quoteShort(p.Name), quoteShort(format), action, quoteShort(requestType), formats)
	}
	return nil
}

// parseEntitlements validates a PUT entitlements body: the data object, plus an optional
// top-level signingKey [ours] that is taken out of it.
func parseEntitlements(body []byte) (data json.RawMessage, signingKey string, ps problems) {
	obj, ok := decodeObject(body, "", &ps)
	if !ok {
		return nil, "", ps
	}
	if raw, ok := obj["signingKey"]; ok {
		signingKey, _ = stringValue(raw, "/signingKey", &ps, true)
		delete(obj, "signingKey")
	}
	if raw, ok := obj["transaction"]; ok {
		if types, ok := decodeObject(raw, "/transaction", &ps); ok {
			for _, reqType := range sortedKeys(types) {
				checkTypeEntitlement(types[reqType], pointer("/transaction", reqType), &ps)
			}
		}
	}
	if raw, ok := obj["serviceEvents"]; ok {
		if se, ok := decodeObject(raw, "/serviceEvents", &ps); ok {
			if rawTypes, ok := se["types"]; ok {
				checkServiceEventTypes(rawTypes, "/serviceEvents/types", &ps)
			}
		}
	}
	data, _ = json.Marshal(obj)
	return data, signingKey, ps
}

func checkTypeEntitlement(raw json.RawMessage, ptr string, ps *problems) {
	te, ok := decodeObject(raw, ptr, ps)
	if !ok {
		return
	}
	rawResp, ok := te["response"]
	if !ok {
		return
	}
	resp, ok := decodeObject(rawResp, pointer(ptr, "response"), ps)
	if !ok {
		return
	}
	rawResults, ok := resp["results"]
	if !ok {
		return
	}
	rptr := pointer(ptr, "response", "results")
	var results []json.RawMessage
	if schemas.JSONKind(rawResults) != "array" || json.Unmarshal(rawResults, &results) != nil {
		ps.add(rptr, "must be an array of {action, formats}, got %s", schemas.JSONKind(rawResults))
		return
	}
	for i, rr := range results {
		iptr := pointer(rptr, i)
		r, ok := decodeObject(rr, iptr, ps)
		if !ok {
			continue
		}
		unknownKeys(r, iptr, ps, "action", "formats")
		nonEmptyString(r, "action", iptr, ps)
		rawFormats, ok := r["formats"]
		if !ok {
			ps.add(pointer(iptr, "formats"), "required: the formats the action may use")
			continue
		}
		var formats []json.RawMessage
		if schemas.JSONKind(rawFormats) != "array" || json.Unmarshal(rawFormats, &formats) != nil || len(formats) == 0 {
			ps.add(pointer(iptr, "formats"), "must be a non-empty array of strings")
			continue
		}
		for j, f := range formats {
			stringValue(f, pointer(iptr, "formats", j), ps, true)
		}
	}
}

func checkServiceEventTypes(raw json.RawMessage, ptr string, ps *problems) {
	var types []json.RawMessage
	if schemas.JSONKind(raw) != "array" || json.Unmarshal(raw, &types) != nil {
		ps.add(ptr, "must be an array of {code, name, senders, type}, got %s", schemas.JSONKind(raw))
		return
	}
	for i, rt := range types {
		iptr := pointer(ptr, i)
		t, ok := decodeObject(rt, iptr, ps)
		if !ok {
			continue
		}
		nonEmptyString(t, "code", iptr, ps)
		for _, k := range []string{"name", "type"} {
			if v, ok := t[k]; ok {
				stringValue(v, pointer(iptr, k), ps, false)
			}
		}
		if v, ok := t["senders"]; ok && schemas.JSONKind(v) != "array" {
			ps.add(pointer(iptr, "senders"), "must be an array, got %s", schemas.JSONKind(v))
		}
	}
}
