package sandbox

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/epcflow/epcflow/epc"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// expectedSignature is computed here, independently of epc.Sign.
func expectedSignature(key string, body []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// TestWebhookDeliveryRules: the platform's rules as a partner's receiver sees them. Only the
// transaction `created` webhook is scripted; the others are answered 200.
func TestWebhookDeliveryRules(t *testing.T) {
	tests := []struct {
		name     string
		replies  []int // status per try; -1: hang until the sandbox gives up (timeout)
		statuses []int // attempt statuses recorded (0: no status, an error)
		outcome  string
	}{
		{"503 then 200", []int{503, 200}, []int{503, 200}, outcomeDelivered},
		{"200 at once", []int{200}, []int{200}, outcomeDelivered},
		{"400 dropped for good", []int{400, 200}, []int{400}, outcomeDropped},
		{"401 dropped for good", []int{401, 200}, []int{401}, outcomeDropped},
		{"5xx every time", []int{500, 502, 504, 200}, []int{500, 502, 504}, outcomeFailed},
		{"timeout then 200", []int{-1, 200}, []int{0, 200}, outcomeDelivered},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.WebhookTimeout = 100 * time.Millisecond })
			var mu sync.Mutex
			tries := 0
			e.hooks.setAnswer(func(_ int, h hook) int {
				if h.msg.Meta.ResourceType != epc.ResourceTransaction {
					return 200
				}
				mu.Lock()
				defer mu.Unlock()
				tries++
				if tries > len(tc.replies) {
					t.Errorf("try %d: the sandbox should have stopped", tries)
					return 200
				}
				return tc.replies[tries-1]
			})
			id := e.order(nil)
			e.idle()
			wh := findWebhook(t, e.control(id), epc.ResourceTransaction, epc.WebhookCreated)
			var got []int
			for _, a := range wh.Attempts {
				got = append(got, a.Status)
				if a.Status == 0 && a.Error == "" {
					t.Errorf("attempt without status has no error")
				}
			}
			if !slices.Equal(got, tc.statuses) || wh.Outcome != tc.outcome {
				t.Errorf("attempts %v outcome %s; want %v %s", got, wh.Outcome, tc.statuses, tc.outcome)
			}
		})
	}
}

func findWebhook(t *testing.T, v controlSnapshot, resourceType, eventType string) struct {
	EventID      string `json:"eventId"`
	EventType    string `json:"eventType"`
	ResourceType string `json:"resourceType"`
	ResourceID   string `json:"resourceId"`
	Copies       int    `json:"copies"`
	Attempts     []struct {
		Status int    `json:"status"`
		Error  string `json:"error"`
		Try    int    `json:"try"`
	} `json:"attempts"`
	Outcome string `json:"outcome"`
} {
	t.Helper()
	for _, wh := range v.Webhooks {
		if wh.ResourceType == resourceType && wh.EventType == eventType {
			return wh
		}
	}
	t.Fatalf("no %s %s webhook in %+v", eventType, resourceType, v.Webhooks)
	return v.Webhooks[0]
}

func TestWebhookConnectionRefusedIsRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there any more
	e := newEnv(t, func(c *Config) { c.PartnerURL = dead })
	id := e.order(nil)
	e.idle()
	wh := findWebhook(t, e.control(id), epc.ResourceTransaction, epc.WebhookCreated)
	if len(wh.Attempts) != 3 || wh.Outcome != outcomeFailed {
		t.Fatalf("attempts %+v outcome %s; want 3 failed tries", wh.Attempts, wh.Outcome)
	}
	for _, a := range wh.Attempts {
		if a.Status != 0 || a.Error == "" {
			t.Errorf("attempt %+v: want a connection error", a)
		}
	}
}

// TestWebhookContent: body, headers and signature as the partner verifies them.
func TestWebhookContent(t *testing.T) {
	e := newEnv(t)
	id := e.order(nil)
	var txHook, evHook hook
	for txHook.body == nil || evHook.body == nil {
		h := e.hooks.next(nil)
		switch h.msg.Meta.ResourceType {
		case epc.ResourceTransaction:
			txHook = h
		case epc.ResourceTransactionEvent:
			evHook = h
		}
	}
	tx, err := e.client.GetTransaction(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []hook{txHook, evHook} {
		if got, want := h.header.Get("Elli-Signature"), expectedSignature(testSigningKey, h.body); got != want {
			t.Errorf("Elli-Signature = %q, want %q", got, want)
		}
		if h.header.Get("Elli-Environment") != "prod" || h.header.Get("Elli-SubscriptionId") != tx.Product.ID ||
			h.header.Get("Content-Type") != "application/json" {
			t.Errorf("headers = %v", h.header)
		}
		if !uuidRE.MatchString(h.msg.EventID) || h.msg.EventType != epc.WebhookCreated ||
			h.msg.Meta.InstanceID != DefaultLenderClientID || h.msg.EventTime.IsZero() {
			t.Errorf("webhook = %+v", h.msg)
		}
	}
	if txHook.msg.Meta.ResourceID != id || txHook.msg.Meta.ResourceRef != e.ts.URL+"/partner/v2/transactions/"+id {
		t.Errorf("transaction webhook meta = %+v", txHook.msg.Meta)
	}
	evID := tx.Events[0].ID
	if evHook.msg.Meta.ResourceID != evID || evHook.msg.Meta.ResourceRef != e.ts.URL+"/partner/v2/transactions/"+id+"/events/"+evID {
		t.Errorf("event webhook meta = %+v", evHook.msg.Meta)
	}
	if wrong := expectedSignature("another-key", txHook.body); wrong == txHook.header.Get("Elli-Signature") {
		t.Error("signature verifies with a wrong key")
	}
}

// TestWebhookProductSigningKey: a product created with its own key signs with it.
func TestWebhookProductSigningKey(t *testing.T) {
	e := newEnv(t)
	rep := e.do(http.MethodPut, "/sandbox/epc/products/flood-product/entitlements", map[string]any{"signingKey": "flood-key"})
	if rep.status != http.StatusCreated {
		t.Fatalf("put entitlements: %d %s", rep.status, rep.body)
	}
	e.order(map[string]any{"request": map[string]any{"type": "Flood"}, "product": map[string]any{"name": "flood-product"}})
	h := e.hooks.next(nil)
	if got := h.header.Get("Elli-Signature"); got != expectedSignature("flood-key", h.body) {
		t.Errorf("signature %q does not verify with the product's key", got)
	}
	if h.header.Get("Elli-SubscriptionId") != productID("flood-product") {
		t.Errorf("Elli-SubscriptionId = %q", h.header.Get("Elli-SubscriptionId"))
	}
}

// TestPartnerEventsAreNotEchoed: the partner's own events yield no webhook.
func TestPartnerEventsAreNotEchoed(t *testing.T) {
	e := newEnv(t)
	id := e.order(nil)
	ev, err := e.client.CreateEvent(context.Background(), id, epc.NewEvent{Text: "Scheduled", Type: "urn:elli:epc:partner:appraisal:scheduled"})
	if err != nil {
		t.Fatal(err)
	}
	e.idle()
	for _, wh := range e.control(id).Webhooks {
		if wh.ResourceID == ev.ID {
			t.Errorf("partner event %s was sent back as a webhook", ev.ID)
		}
	}
}

func TestWebhookCopiesAndShuffle(t *testing.T) {
	e := newEnv(t)
	rep := e.do(http.MethodPut, "/sandbox/webhooks/behavior", map[string]any{"copies": 3, "shuffle": true, "window": "20ms"})
	if rep.status != http.StatusOK {
		t.Fatalf("put behavior: %d %s", rep.status, rep.body)
	}
	if rep := e.do(http.MethodGet, "/sandbox/webhooks/behavior", nil); string(rep.body) != `{"copies":3,"shuffle":true,"delay":"0s","window":"20ms"}`+"\n" {
		t.Errorf("GET behavior = %s", rep.body)
	}
	id := e.order(nil)
	e.idle()
	seen := map[string]int{}
	bodies := map[string]string{}
	for range 6 { // 2 webhooks × 3 copies
		h := e.hooks.next(nil)
		seen[h.msg.EventID]++
		if prev, ok := bodies[h.msg.EventID]; ok && prev != string(h.body) {
			t.Errorf("copies of %s differ", h.msg.EventID)
		}
		bodies[h.msg.EventID] = string(h.body)
	}
	for evID, n := range seen {
		if n != 3 {
			t.Errorf("webhook %s delivered %d times, want 3", evID, n)
		}
	}
	wh := findWebhook(t, e.control(id), epc.ResourceTransaction, epc.WebhookCreated)
	if wh.Copies != 3 || len(wh.Attempts) != 3 || wh.Outcome != outcomeDelivered {
		t.Errorf("record = %+v", wh)
	}

	bad := e.do(http.MethodPut, "/sandbox/webhooks/behavior", map[string]any{"copies": -1, "delay": "soon", "extra": true})
	if bad.status != http.StatusBadRequest {
		t.Fatalf("invalid behavior: %d", bad.status)
	}
	wantPointers(t, bad.apiErr(t), "/copies", "/delay", "/extra")
}

// TestCloseStopsDelivery: Close returns promptly with a retry pending, and nothing is left
// counted as in flight.
func TestCloseStopsDelivery(t *testing.T) {
	rc := newReceiver(t)
	rc.setAnswer(func(int, hook) int { return 503 })
	srv, err := New(Config{PartnerURL: rc.srv.URL, WebhookRetryInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	e := &env{t: t, srv: srv, ts: ts}
	e.order(nil)
	rc.next(nil) // the first try happened; its retry waits an hour
	done := make(chan struct{})
	go func() {
		_ = srv.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	e.idle()
	// New work after Close sends nothing.
	e.order(nil)
	e.idle()
}
