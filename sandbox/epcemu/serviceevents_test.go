package epcemu

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"testing"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/internal/testkit"
	"github.com/epcflow/epcflow/sandbox/internal/sbtest"
)

// TestServiceEventsSeed003 replays seed 003: the lender maps EVENT-001 to a task and a
// notification and leaves EVENT-002 unmapped; the partner PATCHes the seed's sample payload.
func TestServiceEventsSeed003(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rep := e.Do(http.MethodPut, "/sandbox/epc/service-event-mappings", map[string]any{"EVENT-001": []string{"task", "notification"}})
	if rep.Status != http.StatusOK {
		t.Fatalf("put mapping: %d %s", rep.Status, rep.Body)
	}
	id := e.Order(map[string]any{"request": map[string]any{"type": "NewOrder"}})

	var patch epc.Response
	testkit.FixtureJSON(t, "schemas/testdata/seed003-sample-patch.json", &patch)
	if err := e.Client.PatchResponse(ctx, id, &patch); err != nil {
		t.Fatalf("PATCH seed 003 payload: %v", err)
	}

	// Wait on the webhooks for the processed event, as a partner would.
	var processed *epc.Event
	for processed == nil {
		h := e.Hooks.Next(func(h sbtest.Message) bool { return h.Webhook().Meta.ResourceType == epc.ResourceTransactionEvent })
		ev, err := e.Client.GetEvent(ctx, id, h.Webhook().Meta.ResourceID)
		if err != nil {
			t.Fatalf("GetEvent from webhook: %v", err)
		}
		if ev.Type == epc.EventResponseProcessed {
			processed = ev
		}
	}

	var seed []map[string]any
	testkit.FixtureJSON(t, "sandbox/epcemu/testdata/seed003-events.json", &seed)
	evs, err := e.Client.ListEvents(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	// As in the seed, response:updated comes before response:processed.
	if got := sbtest.EventTypes(evs); !slices.Equal(got[len(got)-2:], []string{seed[0]["type"].(string), seed[1]["type"].(string)}) {
		t.Errorf("events = %v", got)
	}

	var got map[string]any
	raw, _ := json.Marshal(processed)
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	want := seed[1]
	// Same members as the seed's example, everywhere (ids and times are ours).
	sameShape(t, "", want, got)
	for _, k := range []string{"text", "type", "from", "comments"} {
		if got[k] != want[k] {
			t.Errorf("%s = %v, want %v", k, got[k], want[k])
		}
	}
	var d epc.ProcessedDetails
	if err := json.Unmarshal(processed.Details, &d); err != nil {
		t.Fatal(err)
	}
	if d.Action != "create_service_events" || d.Status != "Success" || d.RequestType != "NewOrder" ||
		d.TransactionID != id || !uuidRE.MatchString(d.RequestCorrelationID) {
		t.Errorf("details = %+v", d)
	}
	var success, skipped []epc.ProcessedServiceEvent
	for _, g := range d.ServiceEvents {
		success = append(success, g.Success...)
		skipped = append(skipped, g.Skipped...)
	}
	if len(success) != 1 {
		t.Fatalf("success = %+v, want EVENT-001 only", success)
	}
	s := success[0]
	if s.Code != "EVENT-001" || s.Title != "EVENT-001 review is required" || s.ReferenceID != "100000991" {
		t.Errorf("success entry = %+v", s)
	}
	if len(s.LenderEntities) != 2 || s.LenderEntities[0].Type != "task" || !uuidRE.MatchString(s.LenderEntities[0].ID) ||
		s.LenderEntities[1].Type != "notification" || s.LenderEntities[1].ID != "" {
		t.Errorf("lender entities = %+v, want a task with an id and a notification without", s.LenderEntities)
	}
	if len(skipped) != 1 || skipped[0].Code != "EVENT-002" {
		t.Errorf("skipped = %+v, want EVENT-002", skipped)
	}

	// The PATCH also completed the transaction; the processed event came after anyway.
	tx, err := e.Client.GetTransaction(ctx, id)
	if err != nil || tx.Status != epc.TransactionCompleted || tx.Response.PartnerStatus != "partner status" {
		t.Errorf("transaction after seed 003 PATCH: %+v, %v", tx, err)
	}
}

// TestPatchWithoutResultIsNotProcessed: only result actions yield a processed event.
func TestPatchWithoutResultIsNotProcessed(t *testing.T) {
	e := newEnv(t)
	id := e.Order(nil)
	if err := e.Client.PatchResponse(context.Background(), id, &epc.Response{Status: epc.StatusProcessing}); err != nil {
		t.Fatal(err)
	}
	e.Idle()
	for _, ev := range e.Control(id).Events {
		if ev.Type == epc.EventResponseProcessed {
			t.Errorf("processed event for a PATCH without result: %+v", ev)
		}
	}
}

func TestServiceEventMappingValidation(t *testing.T) {
	e := newEnv(t)
	rep := e.Do(http.MethodPut, "/sandbox/epc/service-event-mappings", map[string]any{
		"EVENT-001": []string{"task", "email"},
		"EVENT-002": []string{},
		"EVENT-003": "task",
		" ":         []string{"task"},
	})
	if rep.Status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", rep.Status)
	}
	sbtest.WantPointers(t, rep.Err(t), "/EVENT-001/1", "/EVENT-002", "/EVENT-003", "/ ")
	rep = e.Do(http.MethodGet, "/sandbox/epc/service-event-mappings", nil)
	if string(rep.Body) != "{}\n" {
		t.Errorf("mapping after a rejected PUT = %s", rep.Body)
	}
}

// sameShape checks that got has every member want has, recursively (arrays by their first
// element).
func sameShape(t *testing.T, ptr string, want, got any) {
	t.Helper()
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			t.Errorf("%s: got %T, want an object", ptr, got)
			return
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				t.Errorf("%s/%s: missing", ptr, k)
				continue
			}
			sameShape(t, ptr+"/"+k, wv, gv)
		}
	case []any:
		g, ok := got.([]any)
		if !ok || (len(w) > 0 && len(g) == 0) {
			t.Errorf("%s: got %v, want a non-empty array", ptr, got)
			return
		}
		for i := range w {
			if i < len(g) {
				sameShape(t, ptr+"/"+strconv.Itoa(i), w[i], g[i])
			}
		}
	}
}
