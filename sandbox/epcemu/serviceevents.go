package epcemu

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/sandbox/internal/core"
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
		e.rt.Log.Error("sandbox: service events details", "transaction", t.id, "error", err)
		return
	}
	e.rt.Go(func(ctx context.Context) {
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
		e.rt.Touch()
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
				le.ID = core.NewUUID()
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
		RequestCorrelationID: core.NewUUID(),
	}
}

// getMappings is GET /sandbox/epc/service-event-mappings.
func (e *EPC) getMappings(w http.ResponseWriter, r *http.Request) error {
	core.WriteJSON(w, http.StatusOK, e.st.mapping())
	return nil
}

// putMappings is PUT /sandbox/epc/service-event-mappings: the lender's whole mapping, from
// service-event code to the lender entities it creates, e.g. {"EVENT-001": ["task",
// "notification"]}.
func (e *EPC) putMappings(w http.ResponseWriter, r *http.Request) error {
	const what = "invalid service-event mapping"
	obj, err := core.ReadObject(r, false, what)
	if err != nil {
		return err
	}
	var ps core.Problems
	m := make(map[string][]string, len(obj))
	for _, code := range core.SortedKeys(obj) {
		ptr := core.Pointer("", code)
		if strings.TrimSpace(code) == "" {
			ps.Add(ptr, "a service-event code must not be blank")
			continue
		}
		if types, ok := entityTypes(obj[code], ptr, &ps); ok {
			m[code] = types
		}
	}
	if err := core.InvalidIf(what, ps); err != nil {
		return err
	}
	e.st.setMapping(m)
	core.WriteJSON(w, http.StatusOK, m)
	return nil
}

// entityTypes checks one code's list of lender entity types.
func entityTypes(raw json.RawMessage, ptr string, ps *core.Problems) ([]string, bool) {
	items, ok := core.DecodeArray(raw, ptr, `an array of lender entity types ("task", "notification")`, ps)
	if !ok {
		return nil, false
	}
	if len(items) == 0 {
		ps.Add(ptr, "must list at least one lender entity type (%q, %q); leave the code out to skip it", entityTask, entityNotification)
		return nil, false
	}
	var types []string
	for i, raw := range items {
		typ, ok := core.StringValue(raw, core.Pointer(ptr, i), ps, true)
		if !ok {
			continue
		}
		if typ != entityTask && typ != entityNotification {
			ps.Add(core.Pointer(ptr, i), "unknown lender entity type %s: must be %q or %q", core.QuoteShort(typ), entityTask, entityNotification)
			continue
		}
		types = append(types, typ)
	}
	return types, true
}
