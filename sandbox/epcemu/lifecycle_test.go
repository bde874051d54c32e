package epcemu

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/sandbox/internal/sbtest"
	"github.com/epcflow/epcflow/vocab"
)

func TestLifecycleClosingStatuses(t *testing.T) {
	for _, status := range []string{epc.StatusCompleted, epc.StatusFailed, epc.StatusCanceled} {
		t.Run(status, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			id := e.Order(nil)
			for _, st := range []string{epc.StatusProcessing, epc.StatusInputRequired, epc.StatusProcessing} {
				if err := e.Client.PatchResponse(ctx, id, &epc.Response{Status: st}); err != nil {
					t.Fatalf("PATCH %s while open: %v", st, err)
				}
			}
			closing := &epc.Response{Status: status}
			if status == epc.StatusFailed {
				closing.Errors = []epc.ErrorItem{{Code: epc.ErrorInvalidCredentials, Description: "Invalid credentials", Type: epc.ErrorTypePartner}}
			}
			if err := e.Client.PatchResponse(ctx, id, closing); err != nil {
				t.Fatalf("PATCH %s: %v", status, err)
			}
			tx, err := e.Client.GetTransaction(ctx, id)
			if err != nil || tx.Status != epc.TransactionCompleted {
				t.Fatalf("transaction status = %v (%v), want completed", tx.Status, err)
			}

			// No further response updates, nor uploads.
			rep := e.Partner(http.MethodPatch, "/partner/v2/transactions/"+id+"/response", map[string]any{"status": "processing"})
			want := "transaction " + id + " is completed (response status " + status + "): no further response updates"
			if rep.Status != http.StatusConflict || rep.Err(t).Message != want {
				t.Errorf("PATCH after close: %d %s; want 409 %q", rep.Status, rep.Body, want)
			}
			err = e.Client.PatchResponse(ctx, id, &epc.Response{PartnerStatus: "late"})
			if epc.StatusOf(err) != http.StatusConflict || epc.IsRetryable(err) {
				t.Errorf("client PATCH after close = %v, want a final 409", err)
			}
			rep = e.Partner(http.MethodPost, "/partner/v2/transactions/"+id+"/response/resources", []map[string]string{{"name": "a.pdf", "mimeType": "application/pdf"}})
			if rep.Status != http.StatusConflict || !strings.Contains(rep.Err(t).Message, "no further uploads") {
				t.Errorf("upload slot after close: %d %s", rep.Status, rep.Body)
			}

			// Events are still exchanged.
			if _, err := e.Client.CreateEvent(ctx, id, epc.NewEvent{Text: "Invoice sent", Type: "urn:elli:epc:partner:invoice:sent"}); err != nil {
				t.Errorf("event after close: %v", err)
			}

			// The lender can no longer update or cancel.
			rep = e.Do(http.MethodPatch, "/sandbox/epc/transactions/"+id+"/request", map[string]any{"options": map[string]any{"rush": true}})
			if rep.Status != http.StatusConflict || !strings.Contains(rep.Err(t).Message, "can no longer be updated") {
				t.Errorf("request update after close: %d %s", rep.Status, rep.Body)
			}
			rep = e.Do(http.MethodPost, "/sandbox/epc/transactions/"+id+"/cancel", nil)
			if rep.Status != http.StatusConflict || !strings.Contains(rep.Err(t).Message, "can no longer be canceled") {
				t.Errorf("cancel after close: %d %s", rep.Status, rep.Body)
			}
			if n := len(e.Control(id).ResponseHistory); n != 4 {
				t.Errorf("responseHistory has %d entries, want the 4 accepted PATCHes", n)
			}
		})
	}
}

func TestLenderCancel(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.Order(nil)
	if err := e.Client.PatchResponse(ctx, id, &epc.Response{Status: epc.StatusProcessing}); err != nil {
		t.Fatal(err)
	}
	rep := e.Do(http.MethodPost, "/sandbox/epc/transactions/"+id+"/cancel", map[string]string{"comments": "Borrower withdrew"})
	if rep.Status != http.StatusOK {
		t.Fatalf("cancel: %d %s", rep.Status, rep.Body)
	}
	// The partner hears of it: the event's webhook and an `updated` transaction webhook.
	e.Idle()
	var evHook, txHook *sbtest.Message
	for _, h := range e.Hooks.Drain() {
		switch {
		case h.Webhook().Meta.ResourceType == epc.ResourceTransaction && h.Webhook().EventType == epc.WebhookUpdated:
			txHook = &h
		case h.Webhook().Meta.ResourceType == epc.ResourceTransactionEvent:
			if ev, err := e.Client.GetEvent(ctx, id, h.Webhook().Meta.ResourceID); err == nil && ev.Type == vocab.Default().Get(vocab.EventRequestCanceled) {
				evHook = &h
				if ev.Comments != "Borrower withdrew" || ev.From != "Lender" {
					t.Errorf("canceled event = %+v", ev)
				}
			}
		}
	}
	if evHook == nil || txHook == nil {
		t.Fatalf("webhooks after cancel: event %v, transaction updated %v", evHook != nil, txHook != nil)
	}

	// A second cancel, or a request update, conflicts while the cancellation is pending.
	rep = e.Do(http.MethodPost, "/sandbox/epc/transactions/"+id+"/cancel", nil)
	if rep.Status != http.StatusConflict || !strings.Contains(rep.Err(t).Message, "already requested") {
		t.Errorf("second cancel: %d %s", rep.Status, rep.Body)
	}
	rep = e.Do(http.MethodPatch, "/sandbox/epc/transactions/"+id+"/request", map[string]any{"options": map[string]any{"rush": true}})
	if rep.Status != http.StatusConflict || !strings.Contains(rep.Err(t).Message, "cancellation pending") {
		t.Errorf("request update after cancel: %d %s", rep.Status, rep.Body)
	}

	// The partner acknowledges; that closes the transaction.
	if err := e.Client.PatchResponse(ctx, id, &epc.Response{Status: epc.StatusCanceled}); err != nil {
		t.Fatalf("PATCH canceled: %v", err)
	}
	v := e.Control(id)
	if v.Status != epc.TransactionCompleted || !v.CancelRequested {
		t.Errorf("after cancel: status %s cancelRequested %v", v.Status, v.CancelRequested)
	}
	rep = e.Do(http.MethodPost, "/sandbox/epc/transactions/"+id+"/cancel", nil)
	if rep.Status != http.StatusConflict {
		t.Errorf("cancel after close: %d", rep.Status)
	}
}

func TestLenderRequestUpdate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.Order(map[string]any{"request": map[string]any{
		"type": "Appraisal",
		"loan": map[string]any{"loanNumber": "L-1", "property": map[string]any{"city": "Pleasanton", "state": "CA"}},
	}})
	rep := e.Do(http.MethodPatch, "/sandbox/epc/transactions/"+id+"/request", map[string]any{
		"loan":    map[string]any{"property": map[string]any{"city": "Dublin", "state": nil}},
		"options": map[string]any{"rush": true},
	})
	if rep.Status != http.StatusOK {
		t.Fatalf("request update: %d %s", rep.Status, rep.Body)
	}
	req, err := e.Client.GetRequest(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(req.Loan); got != `{"loanNumber":"L-1","property":{"city":"Dublin"}}` {
		t.Errorf("merged loan = %s", got)
	}
	if string(req.Options) != `{"rush":true}` {
		t.Errorf("options = %s", req.Options)
	}
	e.Hooks.Next(func(h sbtest.Message) bool {
		return h.Webhook().Meta.ResourceType == epc.ResourceTransaction && h.Webhook().EventType == epc.WebhookUpdated && h.Webhook().Meta.ResourceID == id
	})
	e.WaitEvent(id, vocab.Default().Get(vocab.EventRequestUpdated))
}

func TestEntitlements(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	seResult := &epc.Result{
		Action: epc.ActionCreateServiceEvents, Format: epc.FormatServiceEvents,
		Details: []byte(`{"serviceEvents":[{"code":"EVENT-001","title":"Review"}]}`),
	}

	// A product nobody entitled: 403 naming the action and the request type.
	bare := e.Order(map[string]any{"request": map[string]any{"type": "Flood"}, "product": map[string]any{"name": "bare-product"}})
	rep := e.Partner(http.MethodPatch, "/partner/v2/transactions/"+bare+"/response", epc.Response{Status: "processing", Result: seResult})
	want := `product "bare-product" is not entitled to result action CREATE_SERVICE_EVENTS for request type "Flood"`
	if rep.Status != http.StatusForbidden || rep.Err(t).Message != want {
		t.Errorf("unentitled PATCH: %d %s; want 403 %q", rep.Status, rep.Body, want)
	}
	if n := len(e.Control(bare).ResponseHistory); n != 0 {
		t.Errorf("a refused PATCH was recorded")
	}

	// Entitled for Appraisal only.
	rep = e.Do(http.MethodPut, "/sandbox/epc/products/bare-product/entitlements", map[string]any{
		"transaction": map[string]any{"Appraisal": map[string]any{"response": map[string]any{"results": []any{
			map[string]any{"action": epc.ActionCreateServiceEvents, "formats": []string{epc.FormatServiceEvents}},
		}}}},
		"serviceEvents": map[string]any{"types": []any{map[string]any{"code": "EVENT-001", "name": "Review", "senders": []string{"partner"}, "type": "task"}}},
	})
	if rep.Status != http.StatusOK {
		t.Fatalf("put entitlements: %d %s", rep.Status, rep.Body)
	}
	var ent map[string]any
	e.Do(http.MethodGet, "/sandbox/epc/products/bare-product/entitlements", nil).JSON(t, &ent)
	if _, ok := ent["serviceEvents"]; !ok || ent["transaction"] == nil {
		t.Errorf("GET entitlements = %v", ent)
	}
	var products []productView
	e.Do(http.MethodGet, "/sandbox/epc/products", nil).JSON(t, &products)
	if len(products) != 2 || products[0].Name != "bare-product" || products[1].Name != DefaultProduct {
		t.Errorf("products = %+v", products)
	}
	if rep := e.Do(http.MethodGet, "/sandbox/epc/products/nobody/entitlements", nil); rep.Status != http.StatusNotFound {
		t.Errorf("unknown product: %d", rep.Status)
	}
	if rep := e.Partner(http.MethodPatch, "/partner/v2/transactions/"+bare+"/response", epc.Response{Result: seResult}); rep.Status != http.StatusForbidden {
		t.Errorf("Flood still not entitled: got %d", rep.Status)
	}
	appraisal := e.Order(map[string]any{"request": map[string]any{"type": "Appraisal"}, "product": map[string]any{"name": "bare-product"}})
	if err := e.Client.PatchResponse(ctx, appraisal, &epc.Response{Status: "processing", Result: seResult}); err != nil {
		t.Errorf("entitled PATCH: %v", err)
	}

	// The default product is entitled for every request type.
	for _, typ := range []string{"Appraisal", "Flood", "Credit"} {
		id := e.Order(map[string]any{"request": map[string]any{"type": typ}})
		if err := e.Client.PatchResponse(ctx, id, &epc.Response{Result: seResult}); err != nil {
			t.Errorf("default product, %s: %v", typ, err)
		}
	}

	// Entitlement bodies are validated.
	rep = e.Do(http.MethodPut, "/sandbox/epc/products/x/entitlements", map[string]any{
		"transaction": map[string]any{"Appraisal": map[string]any{"response": map[string]any{"results": []any{
			map[string]any{"action": "", "formats": []string{}},
		}}}},
	})
	if rep.Status != http.StatusBadRequest {
		t.Fatalf("invalid entitlements: %d", rep.Status)
	}
	sbtest.WantPointers(t, rep.Err(t), "/transaction/Appraisal/response/results/0/action", "/transaction/Appraisal/response/results/0/formats")
}

func TestResponseSchemaViolations(t *testing.T) {
	e := newEnv(t)
	id := e.Order(nil)
	path := "/partner/v2/transactions/" + id + "/response"
	tests := []struct {
		name     string
		body     any
		ctype    string
		status   int
		pointers []string
	}{
		{"every problem listed", map[string]any{
			"status": "done", "extra": 1,
			"result": map[string]any{"action": "CREATE_SERVICE_EVENTS", "format": epc.FormatServiceEvents,
				"details": map[string]any{"serviceEvents": []any{map[string]any{"code": " ", "comments": []any{}}}}},
		}, "", 400, []string{"/status", "", "/result/details/serviceEvents/0/code", "/result/details/serviceEvents/0", "/result/details/serviceEvents/0/comments"}},
		{"empty object", map[string]any{}, "", 400, []string{""}},
		{"malformed JSON", `{"status": "processing"`, "", 400, nil},
		{"not JSON content type", `{"status":"processing"}`, "text/plain", 415, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdr := []string{"Authorization", "Bearer " + e.Token()}
			if tc.ctype != "" {
				hdr = append(hdr, "Content-Type", tc.ctype)
			}
			rep := e.Do(http.MethodPatch, path, tc.body, hdr...)
			if rep.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", rep.Status, tc.status, rep.Body)
			}
			sbtest.WantPointers(t, rep.Err(t), tc.pointers...)
		})
	}
	if n := len(e.Control(id).ResponseHistory); n != 0 {
		t.Errorf("rejected PATCHes were recorded: %d", n)
	}
}

func TestUnknownTransaction(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{
		"/partner/v2/transactions/nope", "/partner/v2/transactions/nope/request",
		"/partner/v2/transactions/nope/events", "/partner/v2/transactions/nope/request/resources",
	} {
		rep := e.Partner(http.MethodGet, path, nil)
		if rep.Status != http.StatusNotFound || rep.Err(t).Message != `transaction "nope" not found` {
			t.Errorf("GET %s: %d %s", path, rep.Status, rep.Body)
		}
	}
	if rep := e.Do(http.MethodGet, "/sandbox/epc/transactions/nope", nil); rep.Status != http.StatusNotFound {
		t.Errorf("control GET unknown: %d", rep.Status)
	}
}
