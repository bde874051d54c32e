package inbankemu

import (
	"context"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/sandbox/internal/core"
	"github.com/epcflow/epcflow/sandbox/internal/sbtest"
)

func TestInbankCallbackCopies(t *testing.T) {
	e := newEnv(t, nil)
	id := e.create(time.Hour).UUID
	e.act(id, "grant", `{"callbacks":{"copies":3}}`, http.StatusOK)
	first := e.shop.Next(nil)
	e.verify(first, id, "granted")
	for range 2 {
		dup := e.shop.Next(nil)
		if string(dup.Body) != string(first.Body) || dup.Header.Get("Inbank-Signature") != first.Header.Get("Inbank-Signature") {
			t.Errorf("copy differs: %s vs %s", dup.Body, first.Body)
		}
	}
	e.act(id, "complete", `{"callbacks":{"skip":true}}`, http.StatusOK)
	e.Idle()
	if got := e.shop.Drain(); len(got) != 0 {
		t.Errorf("skip sent %d callbacks", len(got))
	}
	var v struct {
		Status    string
		Callbacks []struct {
			Status   string
			Copy     int
			Outcome  string
			Attempts []struct{ Status int }
		}
	}
	e.Do(http.MethodGet, "/sandbox/inbank/sessions/"+id, nil).JSON(t, &v)
	if v.Status != "completed" || len(v.Callbacks) != 3 {
		t.Fatalf("control view %+v", v)
	}
	for i, cb := range v.Callbacks {
		if cb.Status != "granted" || cb.Copy != i+1 || cb.Outcome != core.OutcomeDelivered || len(cb.Attempts) != 1 || cb.Attempts[0].Status != 204 {
			t.Errorf("callback record %d: %+v", i, cb)
		}
	}
}

func TestInbankCallbackReorder(t *testing.T) {
	e := newEnv(t, nil)
	id := e.create(time.Hour).UUID
	// grant's callback is held until complete's has been delivered: complete's overtakes it.
	e.act(id, "grant", `{"callbacks":{"reorder":true}}`, http.StatusOK)
	var v struct {
		Callbacks []struct{ Status, Outcome string }
	}
	e.Do(http.MethodGet, "/sandbox/inbank/sessions/"+id, nil).JSON(t, &v)
	if len(v.Callbacks) != 1 || v.Callbacks[0].Outcome != outcomeHeld {
		t.Errorf("held callback: %+v", v.Callbacks)
	}
	e.act(id, "complete", `{"callbacks":{"copies":2}}`, http.StatusOK)
	var order []string
	for range 3 {
		cb := e.shop.Next(nil)
		e.verify(cb, id, decode(cb).Status)
		order = append(order, decode(cb).Status)
	}
	if want := []string{"completed", "completed", "granted"}; !reflect.DeepEqual(order, want) {
		t.Errorf("arrival order %v, want %v", order, want)
	}
	// The engine's view: whatever the order, GET says completed.
	if s := e.get(id); s.Status != pos.StatusCompleted {
		t.Errorf("status %s", s.Status)
	}
}

func TestInbankCallbackReorderWithNothingAfter(t *testing.T) {
	e := newEnv(t, nil)
	e.ib.reorderHold = 20 * time.Millisecond
	id := e.create(time.Hour).UUID
	e.act(id, "decline", `{"callbacks":{"reorder":true}}`, http.StatusOK)
	e.verify(e.shop.Next(nil), id, "declined")

	// A skipped transition releases held callbacks at once.
	e.ib.reorderHold = time.Hour
	id = e.create(time.Hour).UUID
	e.act(id, "grant", `{"callbacks":{"reorder":true}}`, http.StatusOK)
	e.act(id, "cancel", `{"callbacks":{"skip":true}}`, http.StatusOK)
	e.verify(e.shop.Next(nil), id, "granted")
	e.Idle()
	if got := e.shop.Drain(); len(got) != 0 {
		t.Errorf("%d more callbacks", len(got))
	}
}

// TestInbankCallbackRetried: a 5xx is tried again, and the record shows both tries.
func TestInbankCallbackRetried(t *testing.T) {
	e := newEnv(t, nil)
	e.shop.SetAnswer(func(n int, _ sbtest.Message) (int, string) {
		if n == 1 {
			return http.StatusServiceUnavailable, ""
		}
		return http.StatusNoContent, ""
	})
	id := e.create(time.Hour).UUID
	e.act(id, "cancel", nil, http.StatusOK)
	first, second := e.shop.Next(nil), e.shop.Next(nil)
	e.verify(second, id, "cancelled")
	if string(first.Body) != string(second.Body) {
		t.Errorf("the retry sent other bytes: %s, then %s", first.Body, second.Body)
	}
	e.Idle()
	var v struct {
		Callbacks []struct {
			Outcome  string
			Attempts []struct{ Status int }
		}
	}
	e.Do(http.MethodGet, "/sandbox/inbank/sessions/"+id, nil).JSON(t, &v)
	if len(v.Callbacks) != 1 || v.Callbacks[0].Outcome != core.OutcomeDelivered || len(v.Callbacks[0].Attempts) != 2 ||
		v.Callbacks[0].Attempts[0].Status != 503 || v.Callbacks[0].Attempts[1].Status != 204 {
		t.Errorf("callback records %+v", v.Callbacks)
	}
}

func TestInbankNoCallbackURL(t *testing.T) {
	e := newEnv(t, nil)
	req := e.request(time.Hour)
	req.PartnerURLs = nil
	created, err := e.client.CreateSession(context.Background(), DefaultShopUUID, req)
	if err != nil {
		t.Fatal(err)
	}
	e.act(created.UUID, "complete", nil, http.StatusOK)
	e.Idle()
	if got := e.shop.Drain(); len(got) != 0 {
		t.Errorf("%d callbacks without a callbackUrl", len(got))
	}
	// Without validUntil a session lasts DefaultSessionLifetime.
	req.ValidUntil = time.Time{}
	created, err = e.client.CreateSession(context.Background(), DefaultShopUUID, req)
	if err != nil {
		t.Fatal(err)
	}
	if s := e.get(created.UUID); !s.ValidUntil.Equal(e.Clock.Now().Add(DefaultSessionLifetime)) {
		t.Errorf("validUntil %v", s.ValidUntil)
	}
}
