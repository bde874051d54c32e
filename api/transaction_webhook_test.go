package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/starter"
)

func TestWebhook(t *testing.T) {
	created := fixture(t, "webhook-transaction-created.json")
	event := fixture(t, "webhook-event-created.json")
	mutate := func(from, to string) []byte {
		s := string(created)
		if !strings.Contains(s, from) {
			t.Fatalf("fixture lacks %q", from)
		}
		return []byte(strings.Replace(s, from, to, 1))
	}

	tests := []struct {
		name       string
		body       []byte
		key        string // signing key; "" = no signature
		engineErr  error
		wantStatus int
		wantCalls  int
		wantTx     string   // transactionId in the answer
		wantPtrs   []string // pointers that must be listed (400)
		retryAfter bool
		wantJSON   map[string]any
	}{
		{name: "transaction created", body: created, key: signingKey, wantStatus: 202, wantCalls: 1, wantTx: txID,
			wantJSON: map[string]any{"workflowId": "epc-transaction-" + txID, "runId": "run-1"}},
		{name: "event webhook names its transaction by resourceRef", body: event, key: signingKey, wantStatus: 202, wantCalls: 1, wantTx: txID},
		{name: "updated", body: mutate(`"created"`, `"updated"`), key: signingKey, wantStatus: 202, wantCalls: 1, wantTx: txID},

		{name: "missing signature", body: created, key: "", wantStatus: 401},
		{name: "signed with another key", body: created, key: "not-the-key", wantStatus: 401},

		{name: "bad JSON", body: []byte(`{"eventType": "created",`), key: signingKey, wantStatus: 400, wantPtrs: []string{""}},
		{name: "not an object", body: []byte(`[1,2]`), key: signingKey, wantStatus: 400, wantPtrs: []string{""}},
		{name: "missing meta.resourceId", body: mutate(`"resourceId": "0bf34a40-8ca1-4b58-8cbc-dd6b9f67dc63",`, ``), key: signingKey, wantStatus: 400, wantPtrs: []string{"/meta/resourceId"}},
		{name: "blank meta.resourceId", body: mutate(`"resourceId": "0bf34a40-8ca1-4b58-8cbc-dd6b9f67dc63"`, `"resourceId": "  "`), key: signingKey, wantStatus: 400, wantPtrs: []string{"/meta/resourceId"}},
		{name: "unknown eventType", body: mutate(`"created"`, `"deleted"`), key: signingKey, wantStatus: 400, wantPtrs: []string{"/eventType"}},
		{name: "every problem listed", body: []byte(`{"eventType":"deleted","meta":{"resourceType":"urn:x"}}`), key: signingKey, wantStatus: 400,
			wantPtrs: []string{"/eventType", "/eventTime", "/meta/resourceType", "/meta/resourceId"}},
		{name: "bad eventTime", body: mutate(`"2024-05-01T12:00:00Z"`, `"yesterday"`), key: signingKey, wantStatus: 400, wantPtrs: []string{"/eventTime"}},
		{name: "event webhook without a usable resourceRef", body: []byte(strings.Replace(string(event), "/events/cb140fdb", "/files/cb140fdb", 1)), key: signingKey, wantStatus: 400, wantPtrs: []string{"/meta/resourceRef"}},

		{name: "engine unavailable", body: created, key: signingKey, engineErr: fmt.Errorf("%w: connection refused", starter.ErrUnavailable), wantStatus: 503, wantCalls: 1, retryAfter: true},
		{name: "unexpected engine error", body: created, key: signingKey, engineErr: errors.New("boom"), wantStatus: 503, wantCalls: 1, retryAfter: true},
		{name: "workflow already closed", body: created, key: signingKey, engineErr: fmt.Errorf("%w: already completed", starter.ErrClosed), wantStatus: 202, wantCalls: 1, wantTx: txID,
			wantJSON: map[string]any{"status": "closed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAPI(t)
			a.eng.setErr(tc.engineErr)
			resp := a.webhook(t, tc.body, tc.key)
			if resp.status != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.status, tc.wantStatus, resp.body)
			}
			if got := a.eng.calls(); got != tc.wantCalls {
				t.Fatalf("engine calls = %d, want %d", got, tc.wantCalls)
			}
			if got := resp.header.Get("Retry-After"); (got == "5") != tc.retryAfter {
				t.Errorf("Retry-After = %q, want set: %v", got, tc.retryAfter)
			}
			m := resp.json(t)
			if tc.wantStatus >= 400 {
				if msg, _ := m["message"].(string); msg == "" {
					t.Errorf("error answer without an error message: %s", resp.body)
				}
			}
			if tc.wantTx != "" && m["transactionId"] != tc.wantTx {
				t.Errorf("transactionId = %v, want %s", m["transactionId"], tc.wantTx)
			}
			for k, v := range tc.wantJSON {
				if m[k] != v {
					t.Errorf("%s = %v, want %v", k, m[k], v)
				}
			}
			if tc.wantStatus == 400 {
				probs := resp.problems(t)
				for _, p := range tc.wantPtrs {
					if !hasPointer(probs, p) {
						t.Errorf("problems %v lack pointer %q", probs, p)
					}
				}
				for _, p := range probs {
					if p.Message == "" {
						t.Errorf("problem at %q has no message", p.Pointer)
					}
				}
			}
			if tc.wantCalls == 1 {
				want, err := epc.ParseWebhook(tc.body)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(a.eng.recorded().webhooks[0], want) {
					t.Errorf("engine got %+v, want %+v", a.eng.recorded().webhooks[0], want)
				}
			}
		})
	}
}

func TestWebhookProblemsAreListedOnce(t *testing.T) {
	a := newTestAPI(t)
	// Both the schema and ParseWebhook object to these; each pointer must appear once.
	resp := a.webhook(t, []byte(`{"eventType":"deleted","eventTime":"2024-05-01T12:00:00Z","meta":{"resourceType":"urn:elli:epc:transaction"}}`), signingKey)
	if resp.status != 400 {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	seen := map[string]int{}
	for _, p := range resp.problems(t) {
		seen[p.Pointer]++
	}
	for ptr, n := range seen {
		if n > 1 {
			t.Errorf("pointer %q listed %d times: %s", ptr, n, resp.body)
		}
	}
}

func TestWebhookTooLarge(t *testing.T) {
	a := newTestAPI(t, func(c *Config) { c.MaxWebhookBytes = 256 })
	body := []byte(`{"pad":"` + strings.Repeat("x", 300) + `"}`)
	resp := a.webhook(t, body, signingKey)
	if resp.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", resp.status)
	}
	if a.eng.calls() != 0 {
		t.Fatal("engine called for an oversized webhook")
	}
}

func TestWebhookEngineTimeoutIs503(t *testing.T) {
	a := newTestAPI(t, func(c *Config) { c.WebhookTimeout = 50 * time.Millisecond })
	a.eng.setHook(func(ctx context.Context) error {
		<-ctx.Done() // a Temporal call that never answers
		return fmt.Errorf("%w: %w", starter.ErrUnavailable, ctx.Err())
	})
	start := time.Now()
	resp := a.webhook(t, fixture(t, "webhook-transaction-created.json"), signingKey)
	if resp.status != 503 || resp.header.Get("Retry-After") != "5" {
		t.Fatalf("status %d Retry-After %q, want 503 and 5", resp.status, resp.header.Get("Retry-After"))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("answered after %v: the webhook timeout was not applied", d)
	}
}
