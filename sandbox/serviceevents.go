package sandbox

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/schemas"
)

// Lender entity types a service-event code can be mapped to (seed 003).
const (
	entityTask         = "task"
	entityNotification = "notification"
)

const processedText = "Transaction response successfully processed"

// processServiceEvents plays the platform's CREATE_SERVICE_EVENTS processing (seed 003) in the
// background: codes the lender mapped become lender entities (a task gets an id, a
// notification does not), unmapped codes are skipped [ours: listed in a "skipped" group], and
// the outcome is posted as a response:processed event with its webhook. The mapping in force
// when processing runs is the one used. Caller holds t.mu.
func (e *EPC) processServiceEvents(t *txState, requestType string, details json.RawMessage, base string) {
	var d epc.ServiceEventsDetails
	if err := json.Unmarshal(details, &d); err != nil {
		// Unreachable: the PATCH was validated against the schema.
		e.s.log.Error("sandbox: service events details", "transaction", t.id, "error", err)
		return
	}
	e.s.goBackground(func(ctx context.Context) {
		pd := processedDetails(t.id, requestType, d.ServiceEvents, e.st.mapping())
		raw, _ := json.Marshal(pd)
		t.mu.Lock()
		e.addEvent(t, epc.Event{
			Text:     processedText,
			Type:     epc.EventResponseProcessed,
			From:     "System",
			Comments: processedText,
			Details:  raw,
		}, base, false)
		t.mu.Unlock()
		e.s.touch()
	})
}

// processedDetails is the details object of the response:processed event.
func processedDetails(txID, requestType string, events []epc.ServiceEvent, mapping map[string][]string) epc.ProcessedDetails {
	var success, skipped []epc.ProcessedServiceEvent
	for _, se := range events {
		pe := epc.ProcessedServiceEvent{Code: se.Code, Title: se.Title, ReferenceID: se.ReferenceID}
		types := mapping[se.Code]
		if len(types) == 0 {
			skipped = append(skipped, pe)
			continue
		}
		for _, typ := range types {
			le := epc.LenderEntity{Type: typ}
			if typ == entityTask {
				le.ID = newUUID()
			}
			pe.LenderEntities = append(pe.LenderEntities, le)
		}
		success = append(success, pe)
	}
	groups := []epc.ProcessedEventGroups{}
	if len(success) > 0 {
		groups = append(groups, epc.ProcessedEventGroups{Success: success})
	}
	if len(skipped) > 0 {
		groups = append(groups, epc.ProcessedEventGroups{Skipped: skipped})
	}
	return epc.ProcessedDetails{
		Action:               "create_service_events",
		Status:               "Success",
		RequestType:          requestType,
		ServiceEvents:        groups,
		TransactionID:        txID,
		RequestCorrelationID: newUUID(),
	}
}

// getMappings is GET /sandbox/epc/service-event-mappings.
func (e *EPC) getMappings(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, e.st.mapping())
	return nil
}

// putMappings is PUT /sandbox/epc/service-event-mappings: the lender's whole mapping, from
// service-event code to the lender entities it creates, e.g. {"EVENT-001": ["task",
// "notification"]}.
func (e *EPC) putMappings(w http.ResponseWriter, r *http.Request) error {
	body, err := readJSON(r, false)
	if err != nil {
		return err
	}
	var ps problems
	obj, ok := decodeObject(body, "", &ps)
	if !ok {
		return invalid("invalid service-event mapping", ps)
	}
	m := make(map[string][]string, len(obj))
	for _, code := range sortedKeys(obj) {
		ptr := pointer("", code)
		if strings.TrimSpace(code) == "" {
			ps.add(ptr, "a service-event code must not be blank")
			continue
		}
		var items []json.RawMessage
		if schemas.JSONKind(obj[code]) != "array" || json.Unmarshal(obj[code], &items) != nil {
			ps.add(ptr, "must be an array of lender entity types (%q, %q), got %s", entityTask, entityNotification, schemas.JSONKind(obj[code]))
			continue
		}
		if len(items) == 0 {
			ps.add(ptr, "must list at least one lender entity type (%q, %q); leave the code out to skip it", entityTask, entityNotification)
			continue
		}
		var types []string
		for i, raw := range items {
			typ, ok := stringValue(raw, pointer(ptr, i), &ps, true)
			if !ok {
				continue
			}
			if typ != entityTask && typ != entityNotification {
				ps.add(pointer(ptr, i), "unknown lender entity type %s: must be %q or %q", quoteShort(typ), entityTask, entityNotification)
				continue
			}
			types = append(types, typ)
		}
		m[code] = types
	}
	if len(ps) > 0 {
		return invalid("invalid service-event mapping", ps)
	}
	e.st.setMapping(m)
	writeJSON(w, http.StatusOK, m)
	return nil
}
