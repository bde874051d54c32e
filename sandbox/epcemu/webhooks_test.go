package epcemu

import (
	"context"
	"net"
	"net/http"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/sandbox/internal/core"
	"github.com/epcflow/epcflow/sandbox/internal/sbtest"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestWebhookDeliveryRules: the platform's rules as a partner's receiver sees them. Only the
// transaction `created` webhook is scripted; the others are answered 200.
func TestWebhookDeliveryRules(t *testing.T) {
	tests := []struct {
		name     string
		replies  []int // status per try; -1: hang until the sandbox gives up (timeout)
		statuses []int // attempt statuses recorded (0: no status, an error)
		outcome  string
	}{
		{"503 then 200", []int{503, 200}, []int{503, 200}, core.OutcomeDelivered},
		{"200 at once", []int{200}, []int{200}, core.OutcomeDelivered},
		{"400 dropped for good", []int{400, 200}, []int{400}, core.OutcomeDropped},
		{"401 dropped for good", []int{401, 200}, []int{401}, core.OutcomeDropped},
		{"5xx every time", []int{500, 502, 504, 200}, []int{500, 502, 504}, core.OutcomeFailed},
		{"timeout then 200", []int{-1, 200}, []int{0, 200}, core.OutcomeDelivered},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, withWebhookTimeout(100*time.Millisecond))
			var mu sync.Mutex
			tries := 0
			e.Hooks.SetAnswer(func(_ int, h sbtest.Message) (int, string) {
				if h.Webhook().Meta.ResourceType != epc.ResourceTransaction {
					return 200, ""
				}
				mu.Lock()
				defer mu.Unlock()
				tries++
				if tries > len(tc.replies) {
					t.Errorf("try %d: the sandbox should have stopped", tries)
					return 200, ""
				}
				return tc.replies[tries-1], ""
			})
			id := e.Order(nil)
			e.Idle()
			wh := e.Control(id).Webhook(t, epc.ResourceTransaction, epc.WebhookCreated)
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

func TestWebhookConnectionRefusedIsRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there any more
	e := newEnv(t, withPartnerURL(dead))
	id := e.Order(nil)
	e.Idle()
	wh := e.Control(id).Webhook(t, epc.ResourceTransaction, epc.WebhookCreated)
	if len(wh.Attempts) != 3 || wh.Outcome != core.OutcomeFailed {
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
	id := e.Order(nil)
	var txHook, evHook sbtest.Message
	for txHook.Body == nil || evHook.Body == nil {
		h := e.Hooks.Next(nil)
		switch h.Webhook().Meta.ResourceType {
		case epc.ResourceTransaction:
			txHook = h
		case epc.ResourceTransactionEvent:
			evHook = h
		}
	}
	tx, err := e.Client.GetTransaction(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []sbtest.Message{txHook, evHook} {
		if got, want := h.Header.Get("Elli-Signature"), sbtest.Signature(sbtest.SigningKey, h.Body); got != want {
			t.Errorf("Elli-Signature = %q, want %q", got, want)
		}
		if h.Header.Get("Elli-Environment") != "prod" || h.Header.Get("Elli-SubscriptionId") != tx.Product.ID ||
			h.Header.Get("Content-Type") != "application/json" {
			t.Errorf("headers = %v", h.Header)
		}
		if !uuidRE.MatchString(h.Webhook().EventID) || h.Webhook().EventType != epc.WebhookCreated ||
			h.Webhook().Meta.InstanceID != tx.Product.Name || h.Webhook().EventTime.IsZero() ||
			!h.Webhook().EventTime.Equal(h.Webhook().EventTime.Truncate(time.Second)) {
			t.Errorf("webhook = %+v", h.Webhook())
		}
	}
	if txHook.Webhook().Meta.ResourceID != id || txHook.Webhook().Meta.ResourceRef != e.URL+"/partner/v2/transactions/"+id {
		t.Errorf("transaction webhook meta = %+v", txHook.Webhook().Meta)
	}
	evID := tx.Events[0].ID
	if evHook.Webhook().Meta.ResourceID != evID || evHook.Webhook().Meta.ResourceRef != e.URL+"/partner/v2/transactions/"+id+"/events/"+evID {
		t.Errorf("event webhook meta = %+v", evHook.Webhook().Meta)
	}
	if wrong := sbtest.Signature("another-key", txHook.Body); wrong == txHook.Header.Get("Elli-Signature") {
		t.Error("signature verifies with a wrong key")
	}
}

// TestWebhookProductSigningKey: a product created with its own key signs with it.
func TestWebhookProductSigningKey(t *testing.T) {
	e := newEnv(t)
	rep := e.Do(http.MethodPut, "/sandbox/epc/products/flood-product/entitlements", map[string]any{"signingKey": "flood-key"})
	if rep.Status != http.StatusCreated {
		t.Fatalf("put entitlements: %d %s", rep.Status, rep.Body)
	}
	e.Order(map[string]any{"request": map[string]any{"type": "Flood"}, "product": map[string]any{"name": "flood-product"}})
	h := e.Hooks.Next(nil)
	if got := h.Header.Get("Elli-Signature"); got != sbtest.Signature("flood-key", h.Body) {
		t.Errorf("signature %q does not verify with the product's key", got)
	}
	if h.Header.Get("Elli-SubscriptionId") != productID("flood-product") {
		t.Errorf("Elli-SubscriptionId = %q", h.Header.Get("Elli-SubscriptionId"))
	}
}

// TestPartnerEventsAreNotEchoed: the partner's own events yield no webhook.
func TestPartnerEventsAreNotEchoed(t *testing.T) {
	e := newEnv(t)
	id := e.Order(nil)
	ev, err := e.Client.CreateEvent(context.Background(), id, epc.NewEvent{Text: "Scheduled", Type: "urn:elli:epc:partner:appraisal:scheduled"})
	if err != nil {
		t.Fatal(err)
	}
	e.Idle()
	for _, wh := range e.Control(id).Webhooks {
		if wh.ResourceID == ev.ID {
			t.Errorf("partner event %s was sent back as a webhook", ev.ID)
		}
	}
}

func TestWebhookCopiesAndShuffle(t *testing.T) {
	e := newEnv(t)
	rep := e.Do(http.MethodPut, "/sandbox/webhooks/behavior", map[string]any{"copies": 3, "shuffle": true, "window": "20ms"})
	if rep.Status != http.StatusOK {
		t.Fatalf("put behavior: %d %s", rep.Status, rep.Body)
	}
	if rep := e.Do(http.MethodGet, "/sandbox/webhooks/behavior", nil); string(rep.Body) != `{"copies":3,"shuffle":true,"delay":"0s","window":"20ms","firstOnly":false}`+"\n" {
		t.Errorf("GET behavior = %s", rep.Body)
	}
	id := e.Order(nil)
	e.Idle()
	seen := map[string]int{}
	bodies := map[string]string{}
	for range 6 { // 2 webhooks × 3 copies
		h := e.Hooks.Next(nil)
		seen[h.Webhook().EventID]++
		if prev, ok := bodies[h.Webhook().EventID]; ok && prev != string(h.Body) {
			t.Errorf("copies of %s differ", h.Webhook().EventID)
		}
		bodies[h.Webhook().EventID] = string(h.Body)
	}
	for evID, n := range seen {
		if n != 3 {
			t.Errorf("webhook %s delivered %d times, want 3", evID, n)
		}
	}
	wh := e.Control(id).Webhook(t, epc.ResourceTransaction, epc.WebhookCreated)
	if wh.Copies != 3 || len(wh.Attempts) != 3 || wh.Outcome != core.OutcomeDelivered {
		t.Errorf("record = %+v", wh)
	}

	bad := e.Do(http.MethodPut, "/sandbox/webhooks/behavior", map[string]any{"copies": -1, "delay": "soon", "extra": true})
	if bad.Status != http.StatusBadRequest {
		t.Fatalf("invalid behavior: %d", bad.Status)
	}
	sbtest.WantPointers(t, bad.Err(t), "/copies", "/delay", "/extra")
}

// TestWebhooksFirstOnly: under firstOnly a transaction's creation webhooks are delivered and
// every later one (a lender update, a cancellation, their events) is recorded as withheld and
// never sent, as when the platform gives up on a webhook.
func TestWebhooksFirstOnly(t *testing.T) {
	e := newEnv(t)
	e.Must(http.StatusOK, http.MethodPut, "/sandbox/webhooks/behavior", map[string]any{"firstOnly": true})
	id := e.Order(nil)
	e.Idle()
	e.Must(http.StatusOK, http.MethodPatch, "/sandbox/epc/transactions/"+id+"/request", map[string]any{"options": map[string]any{"rush": true}})
	e.Must(http.StatusOK, http.MethodPost, "/sandbox/epc/transactions/"+id+"/cancel", map[string]any{"comments": "withdrawn"})
	e.Idle()
	if n := len(e.Hooks.Received()); n != 2 {
		t.Fatalf("partner received %d webhooks, want the 2 of the creation", n)
	}
	outcomes := map[string]int{}
	for _, wh := range e.Control(id).Webhooks {
		outcomes[wh.Outcome]++
	}
	if outcomes[core.OutcomeDelivered] != 2 || outcomes[core.OutcomeWithheld] != 4 || len(outcomes) != 2 {
		t.Errorf("webhook outcomes %v; want 2 delivered, 4 withheld", outcomes)
	}
	// The transaction itself changed: a read shows it.
	if tx := e.Control(id); !tx.CancelRequested {
		t.Error("the cancellation was not applied")
	}
}

// TestCloseStopsDelivery: Close returns promptly with a retry pending, and nothing is left
// counted as in flight.
func TestCloseStopsDelivery(t *testing.T) {
	e := newEnv(t, withRetryInterval(time.Hour))
	e.Hooks.SetAnswer(sbtest.Status(http.StatusServiceUnavailable))
	e.Order(nil)
	e.Hooks.Next(nil) // the first try happened; its retry waits an hour
	done := make(chan struct{})
	go func() {
		e.emu.rt.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	e.Idle()
	// New work after Close sends nothing.
	e.Order(nil)
	e.Idle()
}

// TestWebhooksSpreadOverReplicas: with several partner URLs (API replicas behind a load
// balancer [ours]) webhooks take turns, a refused connection moves on to the next replica
// within the same try, and a retry after a 5xx reaches another replica.
func TestWebhooksSpreadOverReplicas(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	created := func(e *env, id string) sbtest.WebhookRecord {
		return e.Control(id).Webhook(t, epc.ResourceTransaction, epc.WebhookCreated)
	}

	t.Run("turns", func(t *testing.T) {
		other := sbtest.NewHooks(t)
		e := newEnv(t)
		e.emu.cfg.PartnerURLs = []string{e.Hooks.URL(), other.URL()}
		for range 4 {
			e.Order(nil)
		}
		e.Idle()
		a, b := len(e.Hooks.Received()), len(other.Received())
		if a == 0 || b == 0 || a-b > 1 || b-a > 1 {
			t.Fatalf("replica 1 got %d webhooks, replica 2 %d: want them shared in turn", a, b)
		}
	})
	t.Run("refused moves on at once", func(t *testing.T) {
		e := newEnv(t)
		e.emu.cfg.PartnerURLs = []string{dead, e.Hooks.URL()}
		id := e.Order(nil)
		id2 := e.Order(nil)
		e.Idle()
		for _, id := range []string{id, id2} {
			wh := created(e, id)
			last := wh.Attempts[len(wh.Attempts)-1]
			if wh.Outcome != core.OutcomeDelivered || last.Try != 1 || last.Target != 1 || last.Status != 200 {
				t.Errorf("%s: attempts %+v outcome %s; want delivered by replica 2 on the first try", id, wh.Attempts, wh.Outcome)
			}
		}
	})
	t.Run("retry reaches another replica", func(t *testing.T) {
		other := sbtest.NewHooks(t)
		e := newEnv(t, withRetryInterval(10*time.Millisecond))
		e.Hooks.SetAnswer(sbtest.Status(503))
		e.emu.cfg.PartnerURLs = []string{e.Hooks.URL(), other.URL()}
		id := e.Order(nil)
		e.Idle()
		wh := created(e, id)
		if wh.Outcome != core.OutcomeDelivered || len(wh.Attempts) > 2 || wh.Attempts[len(wh.Attempts)-1].Target != 1 {
			t.Fatalf("attempts %+v outcome %s; want delivered by replica 2 within two tries", wh.Attempts, wh.Outcome)
		}
	})
}
