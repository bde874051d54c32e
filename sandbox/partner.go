package sandbox

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/schemas"
)

// reservedEventPrefix names the platform's own event types, which a partner may not create.
const reservedEventPrefix = "urn:elli:epc:transaction:"

// patchResponse is PATCH /partner/v2/transactions/{id}/response: the partner's response,
// validated, merged member by member into the stored one, and recorded.
func (e *EPC) patchResponse(w http.ResponseWriter, r *http.Request) error {
	t, err := e.lookup(r)
	if err != nil {
		return err
	}
	body, err := readJSON(r, false)
	if err != nil {
		return err
	}
	if err := validate(schemas.ResponsePatch, body); err != nil {
		return err
	}
	var patch map[string]json.RawMessage
	var typed epc.Response
	if err := json.Unmarshal(body, &patch); err != nil {
		return invalid("invalid response", []schemas.Problem{{Pointer: "", Message: err.Error()}})
	}
	if err := json.Unmarshal(body, &typed); err != nil {
		return invalid("invalid response", []schemas.Problem{{Pointer: "", Message: jsonMessage(err)}})
	}
	base := e.s.baseURL(r)

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
	var newly []epc.Resource
	for _, m := range attach {
		if !m.attached {
			m.attached = true
			newly = append(newly, m.eventResource())
		}
	}
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
	t.closeBy(typed.Status)
	t.changed()
	e.addEvent(t, epc.Event{
		Text:      "Transaction Response Updated",
		Type:      epc.EventResponseUpdated,
		From:      "System",
		Resources: newly,
	}, base, false)
	if typed.Result != nil && typed.Result.Action == epc.ActionCreateServiceEvents {
		e.processServiceEvents(t, t.requestType, typed.Result.Details, base)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// uploadedResources resolves resource references to this transaction's uploaded files; any
// other reference is a 400 at its pointer. Caller holds t.mu.
func (t *txState) uploadedResources(refs []epc.Resource, ptr string) ([]*mediaItem, error) {
	var ps problems
	var out []*mediaItem
	for i, ref := range refs {
		iptr := pointer(ptr, i)
		m := t.responseResource(ref.ID)
		switch {
		case m == nil:
			ps.add(pointer(iptr, "id"), "unknown resource %s: create it with POST …/response/resources first", quoteShort(ref.ID))
		case !m.uploaded:
			ps.add(pointer(iptr, "id"), "resource %s was never uploaded: PUT its bytes to its location first", quoteShort(ref.ID))
		case ref.MimeType != "" && !sameMediaType(ref.MimeType, m.mimeType):
			ps.add(pointer(iptr, "mimeType"), "%s does not match the uploaded resource's mimeType %s", quoteShort(ref.MimeType), quoteShort(m.mimeType))
		default:
			out = append(out, m)
		}
	}
	if len(ps) > 0 {
		return nil, invalid("invalid resource reference", ps)
	}
	return out, nil
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

func (e *EPC) listEvents(w http.ResponseWriter, r *http.Request) error {
	t, err := e.lookup(r)
	if err != nil {
		return err
	}
	t.mu.Lock()
	evs := t.events
	if evs == nil {
		evs = []epc.Event{}
	}
	body, err := json.Marshal(evs)
	t.mu.Unlock()
	if err != nil {
		return err
	}
	writeRawJSON(w, http.StatusOK, body)
	return nil
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
		return notFound("event %s not found in transaction %s", quoteShort(id), t.id)
	}
	writeJSON(w, http.StatusOK, ev)
	return nil
}

// createEvent is POST /partner/v2/transactions/{id}/events [ours: 201 with the stored event].
// Events are accepted after the transaction closed; they yield no webhook back to the partner.
func (e *EPC) createEvent(w http.ResponseWriter, r *http.Request) error {
	t, err := e.lookup(r)
	if err != nil {
		return err
	}
	body, err := readJSON(r, false)
	if err != nil {
		return err
	}
	if err := validate(schemas.PartnerEvent, body); err != nil {
		return err
	}
	var ne epc.NewEvent
	if err := json.Unmarshal(body, &ne); err != nil {
		return invalid("invalid event", []schemas.Problem{{Pointer: "", Message: jsonMessage(err)}})
	}
	if strings.HasPrefix(ne.Type, reservedEventPrefix) {
		return invalid("invalid event", []schemas.Problem{{Pointer: "/type",
			Message: "types under " + reservedEventPrefix + " are the platform's: use a partner type such as urn:elli:epc:partner:appraisal:scheduled"}})
	}
	base := e.s.baseURL(r)
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
	writeJSON(w, http.StatusCreated, ev)
	return nil
}
