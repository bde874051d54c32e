package epcemu

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/sandbox/internal/core"
	"github.com/epcflow/epcflow/schemas"
)

// reservedEventPrefix names the platform's own event types, which a partner may not create.
const reservedEventPrefix = "urn:elli:epc:transaction:"

// lookupValid finds the transaction named in the path and reads the request's body, which
// must match the named schema, into v.
func (e *EPC) lookupValid(r *http.Request, schema string, v any, what string) (*txState, []byte, error) {
	t, body, err := e.lookupJSON(r, false)
	if err == nil {
		err = core.Validate(schema, body)
	}
	if err == nil {
		err = core.Unmarshal(body, v, what)
	}
	return t, body, err
}

// patchResponse is PATCH /partner/v2/transactions/{id}/response: the partner's response,
// validated, merged member by member into the stored one, and recorded.
func (e *EPC) patchResponse(w http.ResponseWriter, r *http.Request) error {
	var typed epc.Response
	t, body, err := e.lookupValid(r, schemas.ResponsePatch, &typed, "invalid response")
	if err != nil {
		return err
	}
	var patch map[string]json.RawMessage
	if err := core.Unmarshal(body, &patch, "invalid response"); err != nil {
		return err
	}
	base := e.rt.BaseURL(r)

	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.responseUpdateError("response updates"); err != nil {
		return err
	}
	if typed.Result != nil {
		if err := t.product.checkEntitled(t.requestType, typed.Result.Action, typed.Result.Format); err != nil {
			return err
		}
	}
	attach, err := t.uploadedResources(typed.Resources, "/resources")
	if err != nil {
		return err
	}

	// Accepted: from here on nothing fails.
	t.applyResponse(patch, body, typed.Status)
	e.addEvent(t, epc.Event{
		Text:      "Transaction Response Updated",
		Type:      epc.EventResponseUpdated,
		From:      "System",
		Resources: attachNew(attach),
	}, base, false)
	if typed.Result != nil && typed.Result.Action == epc.ActionCreateServiceEvents {
		e.processServiceEvents(t, t.requestType, typed.Result.Details, base)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// applyResponse merges an accepted response patch into t and records it. Caller holds t.mu.
func (t *txState) applyResponse(patch map[string]json.RawMessage, body []byte, status string) {
	if t.response == nil {
		t.response = map[string]json.RawMessage{}
	}
	for k, v := range patch {
		t.response[k] = v
	}
	var compact bytes.Buffer
	if json.Compact(&compact, body) != nil {
		compact.Reset()
		compact.Write(body)
	}
	t.responseHistory = append(t.responseHistory, compact.Bytes())
	t.closeBy(status)
	t.changed()
}

// attachNew marks files attached and returns those that were not yet, as an event lists
// them. Caller holds the transaction's mu.
func attachNew(files []*mediaItem) []epc.Resource {
	var newly []epc.Resource
	for _, m := range files {
		if !m.attached {
			m.attached = true
			newly = append(newly, m.eventResource())
		}
	}
	return newly
}

// uploadedResources resolves resource references to this transaction's uploaded files; any
// other reference is a 400 at its pointer. Caller holds t.mu.
func (t *txState) uploadedResources(refs []epc.Resource, ptr string) ([]*mediaItem, error) {
	var ps core.Problems
	var out []*mediaItem
	for i, ref := range refs {
		iptr := core.Pointer(ptr, i)
		m := t.responseResource(ref.ID)
		switch {
		case m == nil:
			ps.Add(core.Pointer(iptr, "id"), "unknown resource %s: create it with POST …/response/resources first", core.QuoteShort(ref.ID))
		case !m.uploaded:
			ps.Add(core.Pointer(iptr, "id"), "resource %s was never uploaded: PUT its bytes to its location first", core.QuoteShort(ref.ID))
		case ref.MimeType != "" && !sameMediaType(ref.MimeType, m.mimeType):
			ps.Add(core.Pointer(iptr, "mimeType"), "%s does not match the uploaded resource's mimeType %s", core.QuoteShort(ref.MimeType), core.QuoteShort(m.mimeType))
		default:
			out = append(out, m)
		}
	}
	return out, core.InvalidIf("invalid resource reference", ps)
}

// responseResource finds an upload slot of t. Caller holds t.mu.
func (t *txState) responseResource(id string) *mediaItem {
	for _, m := range t.resources {
		if m.id == id {
			return m
		}
	}
	return nil
}

// createEvent is POST /partner/v2/transactions/{id}/events [ours: 201 with the stored event].
// Events are accepted after the transaction closed; they yield no webhook back to the partner.
func (e *EPC) createEvent(w http.ResponseWriter, r *http.Request) error {
	var ne epc.NewEvent
	t, _, err := e.lookupValid(r, schemas.PartnerEvent, &ne, "invalid event")
	if err != nil {
		return err
	}
	if strings.HasPrefix(ne.Type, reservedEventPrefix) {
		return core.Invalid("invalid event", []schemas.Problem{{Pointer: "/type",
			Message: "types under " + reservedEventPrefix + " are the platform's: use a partner type such as urn:elli:epc:partner:appraisal:scheduled"}})
	}
	base := e.rt.BaseURL(r)
	t.mu.Lock()
	defer t.mu.Unlock()
	files, err := t.uploadedResources(ne.Resources, "/resources")
	if err != nil {
		return err
	}
	var res []epc.Resource
	for _, m := range files {
		res = append(res, m.eventResource())
	}
	ev := e.addEvent(t, epc.Event{
		Text:      ne.Text,
		Type:      ne.Type,
		From:      t.product.Name,
		Comments:  ne.Comments,
		Resources: res,
	}, base, true)
	w.Header().Set("Location", base+"/partner/v2/transactions/"+t.id+"/events/"+ev.ID)
	core.WriteJSON(w, http.StatusCreated, ev)
	return nil
}
