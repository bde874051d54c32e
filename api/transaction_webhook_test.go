package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/epcflow/epcflow/dedup"
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
		{name: "an event type epcflow does not act on is accepted", body: mutate(`"created"`, `"deleted"`), key: signingKey, wantStatus: 202, wantCalls: 1, wantTx: txID},
		{name: "an unknown resource type under a transaction is accepted", body: mutate(`"urn:elli:epc:transaction"`, `"urn:elli:epc:transaction:message"`), key: signingKey, wantStatus: 202, wantCalls: 1, wantTx: txID},
		{name: "an unknown resource type naming no transaction is accepted and ignored", body: []byte(`{"eventTime":"2024-05-01T12:00:00Z","eventType":"created","meta":{"resourceType":"urn:elli:epc:product","resourceId":"p-1","resourceRef":"/partner/v2/products/p-1"}}`),
			key: signingKey, wantStatus: 202, wantJSON: map[string]any{"status": "ignored"}},
		{name: "signature in X-Elli-Signature", body: created, key: "x:" + signingKey, wantStatus: 202, wantCalls: 1, wantTx: txID},
		{name: "every problem listed", body: []byte(`{"eventType":" ","meta":{"resourceType":""}}`), key: signingKey, wantStatus: 400,
			wantPtrs: []string{"/eventType", "/eventTime", "/meta/resourceType", "/meta/resourceId"}},
		{name: "transaction id with a control character", body: mutate(`"resourceId": "0bf34a40-8ca1-4b58-8cbc-dd6b9f67dc63"`, `"resourceId": "tx\u0000"`), key: signingKey, wantStatus: 400, wantPtrs: []string{"/meta/resourceId"}},
		{name: "transaction id of invalid UTF-8", body: []byte(strings.Replace(string(event), "/transactions/"+txID+"/", "/transactions/tx%FF/", 1)), key: signingKey, wantStatus: 400, wantPtrs: []string{"/meta/resourceRef"}},
		{name: "transaction id too long for a workflow id", body: mutate(`"resourceId": "0bf34a40-8ca1-4b58-8cbc-dd6b9f67dc63"`, `"resourceId": "`+strings.Repeat("7", 901)+`"`), key: signingKey, wantStatus: 400, wantPtrs: []string{"/meta/resourceId"}},
		{name: "bad eventTime", body: mutate(`"2024-05-01T12:00:00Z"`, `"yesterday"`), key: signingKey, wantStatus: 400, wantPtrs: []string{"/eventTime"}},
		{name: "event webhook without a usable resourceRef", body: []byte(strings.Replace(string(event), "/events/cb140fdb", "/files/cb140fdb", 1)), key: signingKey, wantStatus: 400, wantPtrs: []string{"/meta/resourceRef"}},

		{name: "engine unavailable", body: created, key: signingKey, engineErr: fmt.Errorf("%w: connection refused", starter.ErrUnavailable), wantStatus: 503, wantCalls: 1, retryAfter: true},
		{name: "unexpected engine error", body: created, key: signingKey, engineErr: errors.New("boom"), wantStatus: 503, wantCalls: 1, retryAfter: true},
		{name: "workflow already closed", body: created, key: signingKey, engineErr: fmt.Errorf("%w: already completed", starter.ErrClosed), wantStatus: 202, wantCalls: 1, wantTx: txID,
			wantJSON: map[string]any{"status": "closed"}},
		{name: "an event its order at work does not need", body: event, key: signingKey, engineErr: fmt.Errorf("%w: stage uploading", starter.ErrNotNeeded), wantStatus: 202, wantCalls: 1, wantTx: txID,
			wantJSON: map[string]any{"status": "not-needed", "workflowId": "epc-transaction-" + txID}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestAPI(t)
			a.eng.setErr(tc.engineErr)
			var resp response
			if key, ok := strings.CutPrefix(tc.key, "x:"); ok {
				resp = a.do(t, http.MethodPost, WebhookPath, bytes.NewReader(tc.body), map[string]string{epc.AltSignatureHeader: sign(key, tc.body)})
			} else {
				resp = a.webhook(t, tc.body, tc.key)
			}
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

// metricLine returns the /metrics line of a sample (name with its labels, as exposed), or "".
func (a *testAPI) metricLine(t *testing.T, sample string) string {
	t.Helper()
	m := a.do(t, http.MethodGet, "/metrics", nil, nil)
	for _, line := range strings.Split(string(m.body), "\n") {
		if strings.HasPrefix(line, sample+" ") {
			return line
		}
	}
	return ""
}

func withDedup(t *testing.T, store dedup.Backend) func(*Config) {
	return func(c *Config) { c.Dedup = store }
}

func memoryDedup(t *testing.T) *dedup.Store {
	t.Helper()
	s, err := dedup.Open(context.Background(), ":memory:", dedup.Options{PruneEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestWebhookCopiesNeverReachTheEngine: a copy of a delivered webhook is answered 200 without
// a call to the engine; a webhook whose delivery failed (503) counts as unseen, so the
// platform's retry is delivered.
func TestWebhookCopiesNeverReachTheEngine(t *testing.T) {
	a := newTestAPI(t, withDedup(t, memoryDedup(t)))
	body := fixture(t, "webhook-transaction-created.json")

	a.eng.setErr(fmt.Errorf("%w: connection refused", starter.ErrUnavailable))
	if r := a.webhook(t, body, signingKey); r.status != 503 {
		t.Fatalf("engine down: status %d, want 503", r.status)
	}
	a.eng.setErr(nil)
	if r := a.webhook(t, body, signingKey); r.status != 202 {
		t.Fatalf("the retry: status %d, want 202: %s", r.status, r.body)
	}
	for range 5 {
		r := a.webhook(t, body, signingKey)
		if r.status != 200 || r.json(t)["status"] != "duplicate" {
			t.Fatalf("a copy: status %d %s, want 200 duplicate", r.status, r.body)
		}
	}
	if got := a.eng.calls(); got != 2 {
		t.Fatalf("engine calls = %d, want 2 (the failed try and the retry)", got)
	}
	if line := a.metricLine(t, "epcflow_webhook_duplicates_total"); line != "epcflow_webhook_duplicates_total 5" {
		t.Errorf("duplicates metric: %q", line)
	}
}

// TestWebhookWithoutEventIDIsKnownByItsBody: without eventId two updates of one second that
// differ anywhere are two webhooks; the same bytes again are one.
func TestWebhookWithoutEventIDIsKnownByItsBody(t *testing.T) {
	a := newTestAPI(t, withDedup(t, memoryDedup(t)))
	first := []byte(`{"eventTime":"2024-05-01T12:00:00Z","eventType":"updated","meta":{"resourceType":"urn:elli:epc:transaction","resourceId":"` + txID + `","userId":"ann"}}`)
	second := []byte(`{"eventTime":"2024-05-01T12:00:00Z","eventType":"updated","meta":{"resourceType":"urn:elli:epc:transaction","resourceId":"` + txID + `","userId":"bob"}}`)
	for _, b := range [][]byte{first, second, first, second} {
		a.webhook(t, b, signingKey)
	}
	got := a.eng.recorded()
	if len(got.webhooks) != 2 {
		t.Fatalf("engine got %d webhooks, want 2", len(got.webhooks))
	}
	for i, b := range [][]byte{first, second} {
		sum := sha256.Sum256(b)
		if got.digests[i] != hex.EncodeToString(sum[:]) {
			t.Errorf("webhook %d: digest %s, want the SHA-256 of its body", i, got.digests[i])
		}
	}
}

// TestWebhookDedupStoreDown: a store that fails delays nothing and refuses nothing: the
// webhook is delivered, the failure logged and counted; this process still knows the copy.
func TestWebhookDedupStoreDown(t *testing.T) {
	store := memoryDedup(t)
	store.Close() // every call now fails
	a := newTestAPI(t, withDedup(t, store))
	body := fixture(t, "webhook-transaction-created.json")
	if r := a.webhook(t, body, signingKey); r.status != 202 {
		t.Fatalf("status %d, want 202: %s", r.status, r.body)
	}
	if r := a.webhook(t, body, signingKey); r.status != 200 {
		t.Fatalf("the copy: status %d, want 200: %s", r.status, r.body)
	}
	if a.eng.calls() != 1 {
		t.Fatalf("engine calls = %d, want 1", a.eng.calls())
	}
	for _, op := range []string{"seen", "mark"} {
		if line := a.metricLine(t, `epcflow_webhook_dedup_store_errors_total{op="`+op+`"}`); !strings.HasSuffix(line, " 1") {
			t.Errorf("store errors (%s): %q", op, line)
		}
	}
	a.logs.WaitLine(t, func(l map[string]any) bool {
		return l["msg"] == "webhook dedup store failed: delivering the webhook all the same"
	})
}

// TestWebhookTypesNotActedOnAreCounted: by resource and event type, unknown values as
// "other", once per webhook (copies are not counted).
func TestWebhookTypesNotActedOnAreCounted(t *testing.T) {
	a := newTestAPI(t, withDedup(t, memoryDedup(t)))
	created := string(fixture(t, "webhook-transaction-created.json"))
	deleted := []byte(strings.Replace(created, `"created"`, `"deleted"`, 1))
	message := []byte(strings.Replace(strings.Replace(created, `"urn:elli:epc:transaction"`, `"urn:elli:epc:transaction:message"`, 1), `"5f0f6ac5`, `"6f0f6ac5`, 1))
	for _, b := range [][]byte{deleted, deleted, message, []byte(created)} {
		if r := a.webhook(t, b, signingKey); r.status/100 != 2 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	}
	for sample, want := range map[string]string{
		`epcflow_webhooks_unhandled_total{event_type="other",resource_type="urn:elli:epc:transaction"}`: "1",
		`epcflow_webhooks_unhandled_total{event_type="created",resource_type="other"}`:                  "1",
	} {
		if line := a.metricLine(t, sample); line != sample+" "+want {
			t.Errorf("got %q, want %s %s", line, sample, want)
		}
	}
	a.logs.WaitLine(t, func(l map[string]any) bool {
		return l["msg"] == "webhook of a type epcflow does not act on: recorded on its order" && l["eventType"] == "deleted"
	})
}

// TestWebhookLogsBoundUntrustedValues: values the sender chose are cut short in every log
// line, however long they are.
func TestWebhookLogsBoundUntrustedValues(t *testing.T) {
	a := newTestAPI(t)
	huge := strings.Repeat("é", 50_000) // 100 KB
	body := []byte(`{"eventId":"` + huge + `","eventTime":"2024-05-01T12:00:00Z","eventType":"` + huge + `","meta":{"resourceType":"` + huge +
		`","resourceId":"x","resourceRef":"/partner/v2/transactions/` + strings.Repeat("t", 900) + `"}}`)
	if r := a.webhook(t, body, signingKey); r.status != 202 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	a.logs.WaitLine(t, func(l map[string]any) bool { return l["msg"] == "http request" })
	for _, l := range strings.Split(a.logs.String(), "\n") {
		if len(l) > 2048 {
			t.Errorf("log line of %d bytes: %.200s…", len(l), l)
		}
	}
}
