package inbankemu

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/epcflow/epcflow/internal/testkit"
	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/sandbox/internal/core"
	"github.com/epcflow/epcflow/sandbox/internal/sbtest"
)

func TestInbankSessionEndStates(t *testing.T) {
	for _, tc := range []struct {
		name    string
		actions []string
		advance time.Duration // clock move after the actions
		final   pos.InbankStatus
		// callbacks expected, in order
		callbacks []string
		app, ctr  bool // credit application / contract uuids present at the end
	}{
		{"completed via grant", []string{"grant", "complete"}, 0, pos.StatusCompleted, []string{"granted", "completed"}, true, true},
		{"completed without grant", []string{"complete"}, 0, pos.StatusCompleted, []string{"completed"}, true, true},
		{"cancelled by the customer", []string{"cancel"}, 0, pos.StatusCancelled, []string{"cancelled"}, false, false},
		{"cancelled after grant", []string{"grant", "cancel"}, 0, pos.StatusCancelled, []string{"granted", "cancelled"}, true, true},
		{"declined by Inbank", []string{"decline"}, 0, pos.StatusDeclined, []string{"declined"}, true, false},
		{"expired while pending", nil, 10 * time.Minute, pos.StatusExpired, []string{"expired"}, false, false},
		{"expired after grant", []string{"grant"}, 11 * time.Minute, pos.StatusExpired, []string{"granted", "expired"}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			created := e.create(10 * time.Minute)
			if created.Status != pos.StatusPending || created.RedirectURL != e.URL+"/inbank/pay/"+created.UUID {
				t.Errorf("created %+v", created)
			}
			s := e.get(created.UUID)
			if s.Status != pos.StatusPending || !s.ValidUntil.Equal(e.Clock.Now().Add(10*time.Minute)) || s.CreditContractUUID != "" {
				t.Errorf("new session %+v", s)
			}
			for i, a := range tc.actions {
				e.act(created.UUID, a, nil, http.StatusOK)
				e.verify(e.shop.Next(nil), created.UUID, tc.callbacks[i])
			}
			e.Clock.Advance(tc.advance)
			s = e.get(created.UUID)
			if s.Status != tc.final || !s.Status.IsFinal() {
				t.Fatalf("status %s, want %s", s.Status, tc.final)
			}
			if (s.CreditApplicationUUID != "") != tc.app || (s.CreditContractUUID != "") != tc.ctr {
				t.Errorf("credit uuids in %+v, want application %v contract %v", s, tc.app, tc.ctr)
			}
			if tc.final == pos.StatusExpired {
				e.verify(e.shop.Next(nil), created.UUID, "expired")
			}
			// Final is final: every action is a 409, and nothing more is sent.
			for a := range actions {
				rep := e.act(created.UUID, a, nil, http.StatusConflict)
				if msg := rep.Err(t).Message; !strings.Contains(msg, "is "+string(tc.final)) {
					t.Errorf("409 message %q", msg)
				}
			}
			e.get(created.UUID)
			e.Idle()
			if extra := e.shop.Drain(); len(extra) > 0 {
				t.Errorf("%d unexpected callbacks, first %s", len(extra), extra[0].Body)
			}
		})
	}
}

func TestInbankInvalidTransitions(t *testing.T) {
	e := newEnv(t, nil)
	id := e.create(time.Hour).UUID
	e.act(id, "grant", nil, http.StatusOK)
	rep := e.act(id, "grant", nil, http.StatusConflict)
	if e := rep.Err(t); e.Code != core.CodeConflict || e.Message != "session "+id+" is granted: cannot grant it" {
		t.Errorf("409 %+v", e)
	}
	e.act(id, "approve", nil, http.StatusNotFound)
	e.act("5e3a459a-aada-4d81-b6ad-09cb9483c8bf", "grant", nil, http.StatusNotFound)
	for _, tc := range []struct {
		body string
		ptrs []string
	}{
		{`{"callbacks":{"copies":11}}`, []string{"/callbacks/copies"}},
		{`{"callbacks":{"copies":"2","twice":true}}`, []string{"/callbacks/copies", "/callbacks/twice"}},
		{`{"callbacks":{"skip":true,"reorder":true}}`, []string{"/callbacks/skip"}},
		{`{"callback":{}}`, []string{"/callback"}},
		{`[]`, []string{""}},
	} {
		rep := e.act(id, "complete", tc.body, http.StatusBadRequest)
		sbtest.WantPointers(t, rep.Err(t), tc.ptrs...)
	}
	if s := e.get(id); s.Status != pos.StatusGranted {
		t.Errorf("a rejected action changed the session: %s", s.Status)
	}
}

func TestInbankAuthorization(t *testing.T) {
	const (
		shopA = "11111111-1111-4111-8111-111111111111"
		shopB = "22222222-2222-4222-8222-222222222222"
	)
	e := newEnv(t, map[string]Shop{shopA: {APIKey: "key-a"}, shopB: {APIKey: "key-b"}})
	body := testkit.Fixture(t, minimal)
	path := func(shop string) string { return "/partner/v3/shops/" + shop + "/pos-sessions" }
	for _, tc := range []struct {
		name   string
		shop   string
		auth   []string
		status int
		want   string
	}{
		{"no key", shopA, nil, 401, `{"message":"unauthorized"}`},
		{"wrong key", shopA, []string{"Authorization", "Bearer nope"}, 401, `{"message":"unauthorized"}`},
		{"not bearer", shopA, []string{"Authorization", "Basic a2V5LWE6"}, 401, `{"message":"unauthorized"}`},
		{"default shop's key not configured", shopA, []string{"Authorization", "Bearer " + DefaultAPIKey}, 401, `{"message":"unauthorized"}`},
		{"unknown shop", DefaultShopUUID, []string{"Authorization", "Bearer key-a"}, 404, `{"message":"not_found"}`},
		{"another key's shop", shopB, []string{"Authorization", "Bearer key-a"}, 403,
			`{"message":"User is not authorized to access this resource with an explicit deny"}`},
		{"own shop", shopA, []string{"Authorization", "Bearer key-a"}, 201, ""},
		{"own shop, upper-case uuid", strings.ToUpper(shopB), []string{"Authorization", "bearer key-b"}, 201, ""},
	} {
		rep := e.Do(http.MethodPost, path(tc.shop), body, tc.auth...)
		if rep.Status != tc.status || (tc.want != "" && strings.TrimSpace(string(rep.Body)) != tc.want) {
			t.Errorf("%s: %d %s, want %d %s", tc.name, rep.Status, rep.Body, tc.status, tc.want)
		}
	}

	// The client sees typed errors; GET applies the same checks, and a session of another
	// shop is not found.
	ctx := context.Background()
	a := &pos.InbankClient{BaseURL: e.URL, APIKey: "key-a"}
	created, err := a.CreateSession(ctx, shopA, e.request(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	bad := &pos.InbankClient{BaseURL: e.URL, APIKey: "nope"}
	if _, err := bad.GetSession(ctx, shopA, created.UUID); !errors.Is(err, pos.ErrUnauthorized) {
		t.Errorf("bad key: %v", err)
	}
	if _, err := a.GetSession(ctx, shopB, created.UUID); !errors.Is(err, pos.ErrForbidden) {
		t.Errorf("other shop: %v", err)
	}
	if _, err := a.CreateSession(ctx, DefaultShopUUID, e.request(time.Hour)); !errors.Is(err, pos.ErrNotFound) {
		t.Errorf("unknown shop: %v", err)
	}
	b := &pos.InbankClient{BaseURL: e.URL, APIKey: "key-b"}
	if _, err := b.GetSession(ctx, shopB, created.UUID); !errors.Is(err, pos.ErrNotFound) {
		t.Errorf("session of another shop: %v", err)
	}
	_, err = a.GetSession(ctx, shopA, "5e3a459a-aada-4d81-b6ad-09cb9483c8bf")
	var ie *pos.InbankError
	if !errors.Is(err, pos.ErrNotFound) || !errors.As(err, &ie) || ie.Message != "not_found" {
		t.Errorf("unknown session: %v", err)
	}

	// A 500 (injected) is ErrInternal.
	e.Do(http.MethodPut, "/sandbox/faults", `{"rules":[{"route":"`+RouteGet+`","status":500}]}`)
	if _, err := a.GetSession(ctx, shopA, created.UUID); !errors.Is(err, pos.ErrInternal) {
		t.Errorf("injected 500: %v", err)
	}
}

func TestInbankBodyProblems(t *testing.T) {
	e := newEnv(t, nil)
	auth := []string{"Authorization", "Bearer " + DefaultAPIKey}
	path := "/partner/v3/shops/" + DefaultShopUUID + "/pos-sessions"
	rep := e.Do(http.MethodPost, path, `{"productCode":`, auth...)
	var got apiError
	rep.JSON(t, &got)
	if rep.Status != 400 || got.Message != "validation_failed" || len(got.Details) != 1 || got.Details[0].Pointer != "" {
		t.Errorf("malformed JSON: %d %s", rep.Status, rep.Body)
	}
	req, _ := http.NewRequest(http.MethodPost, e.URL+path, strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+DefaultAPIKey)
	req.Header.Set("Content-Type", "text/plain")
	resp, err := e.TS.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain: %d", resp.StatusCode)
	}
}

func TestCheckShops(t *testing.T) {
	_, problems := CheckShops("InbankShops", map[string]Shop{"shop-1": {APIKey: "secret-key-1"}, DefaultShopUUID: {}})
	msg := strings.Join(problems, "; ")
	if !strings.Contains(msg, `InbankShops: "shop-1" is not a UUID`) || !strings.Contains(msg, "InbankShops["+DefaultShopUUID+"]: APIKey required") ||
		strings.Contains(msg, "secret-key-1") {
		t.Errorf("problems: %s", msg)
	}
	// The caller's map is copied: changing it later changes nothing.
	shops := map[string]Shop{DefaultShopUUID: {APIKey: "k1"}}
	e := newEnv(t, shops)
	shops[DefaultShopUUID] = Shop{APIKey: "k2"}
	e.client.APIKey = "k1"
	e.create(time.Hour)
}
