package inbankemu

import (
	"context"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/sandbox/internal/core"
	"github.com/epcflow/epcflow/sandbox/internal/sbtest"
	"github.com/epcflow/epcflow/schemas"
)

// env is an Inbank emulator served over real HTTP, an Inbank client for the default shop,
// and the shop's callback endpoint.
type env struct {
	*sbtest.Env
	ib     *Inbank
	shop   *sbtest.Receiver
	client *pos.InbankClient
}

func newEnv(t *testing.T, shops map[string]Shop) *env {
	t.Helper()
	clock := sbtest.NewClock()
	rt := sbtest.Runtime(t, clock)
	shops, problems := CheckShops("shops", shops)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	ib := New(rt, shops)
	e := sbtest.ServeRuntime(t, rt, clock)
	return &env{Env: e, ib: ib, shop: sbtest.NewReceiver(t, "/webhooks/inbank", sbtest.Status(http.StatusNoContent)),
		client: &pos.InbankClient{BaseURL: e.URL, APIKey: DefaultAPIKey, HTTP: e.TS.Client()}}
}

// minimal is seed 001's minimal session request, as the pos package checks it in.
const minimal = "../../pos/testdata/inbank-session-minimal.json"

// callback is a callback's body.
type callback struct {
	POSSessionUUID string `json:"posSessionUuid"`
	Status         string `json:"status"`
	Timestamp      int64  `json:"timestamp"`
}

func decode(m sbtest.Message) callback {
	var cb callback
	_ = json.Unmarshal(m.Body, &cb)
	return cb
}

// request is the minimal seed-001 body with the shop's callback URL and a validity.
func (e *env) request(validFor time.Duration) pos.InbankSessionRequest {
	e.T.Helper()
	req, err := pos.ParseSessionRequest(sbtest.Fixture(e.T, minimal))
	if err != nil {
		e.T.Fatal(err)
	}
	req.ValidUntil = e.Clock.Now().Add(validFor)
	req.PartnerURLs = &pos.InbankPartnerURLs{
		ReturnURL:   "https://shop.example/return",
		CancelURL:   "https://shop.example/cancel",
		CallbackURL: e.shop.URL() + "/webhooks/inbank",
	}
	return req
}

func (e *env) create(validFor time.Duration) pos.InbankSessionCreated {
	e.T.Helper()
	created, err := e.client.CreateSession(context.Background(), DefaultShopUUID, e.request(validFor))
	if err != nil {
		e.T.Fatalf("CreateSession: %v", err)
	}
	return created
}

func (e *env) get(id string) pos.InbankSession {
	e.T.Helper()
	s, err := e.client.GetSession(context.Background(), DefaultShopUUID, id)
	if err != nil {
		e.T.Fatalf("GetSession: %v", err)
	}
	return s
}

// act runs a control action; body may be nil.
func (e *env) act(id, action string, body any, wantStatus int) sbtest.Reply {
	e.T.Helper()
	rep := e.Do(http.MethodPost, "/sandbox/inbank/sessions/"+id+"/"+action, body)
	if rep.Status != wantStatus {
		e.T.Fatalf("%s: %d %s, want %d", action, rep.Status, rep.Body, wantStatus)
	}
	return rep
}

// verify checks a callback's signature twice: independently (HMAC-SHA512 by hand) and with
// pos.VerifyCallback, as the engine will.
func (e *env) verify(cb sbtest.Message, sessionID, status string) {
	e.T.Helper()
	m := hmac.New(sha512.New, []byte(DefaultAPIKey))
	m.Write([]byte(strconv.FormatInt(decode(cb).Timestamp, 10) + "." + string(cb.Body)))
	if got, want := cb.Header.Get("Inbank-Signature"), hex.EncodeToString(m.Sum(nil)); got != want {
		e.T.Errorf("Inbank-Signature %q, want %q", got, want)
	}
	if cb.Header.Get("Content-Type") != "application/json" {
		e.T.Errorf("Content-Type %q", cb.Header.Get("Content-Type"))
	}
	v, err := pos.VerifyCallback(DefaultAPIKey, cb.Header, cb.Body, e.Clock.Now())
	if err != nil {
		e.T.Fatalf("VerifyCallback: %v", err)
	}
	if v.POSSessionUUID != sessionID || string(v.Status) != status || v.Timestamp != e.Clock.Now().Unix() {
		e.T.Errorf("callback %+v, want session %s status %s at %d", v, sessionID, status, e.Clock.Now().Unix())
	}
}

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
	body := sbtest.Fixture(t, minimal)
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

// inbankBody is the minimal seed-001 body, as a document to mutate.
func inbankBody(t *testing.T) map[string]any {
	var d map[string]any
	if err := json.Unmarshal(sbtest.Fixture(t, minimal), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func obj(d map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		d = d[k].(map[string]any)
	}
	return d
}

func asset(d map[string]any, i int) map[string]any {
	return obj(d, "rentalApplicationData")["assets"].([]any)[i].(map[string]any)
}

// One row per seed-001 rule: the sandbox answers 400 with the problem at its pointer, and
// the client refuses the same body with the same problems before calling.
func TestInbankValidationRules(t *testing.T) {
	e := newEnv(t, nil)
	const a0, a1 = "/rentalApplicationData/assets/0", "/rentalApplicationData/assets/1"
	for _, tc := range []struct {
		name   string
		mutate func(d map[string]any)
		want   schemas.Problem
	}{
		{"missing productCode", func(d map[string]any) { delete(d, "productCode") },
			schemas.Problem{Pointer: "", Message: `missing property "productCode"`}},
		{"lowercase currency", func(d map[string]any) { d["currency"] = "eur" },
			schemas.Problem{Pointer: "/currency", Message: "must be an uppercase ISO 4217 currency code"}},
		{"currency other than EUR", func(d map[string]any) { d["currency"] = "USD" },
			schemas.Problem{Pointer: "/currency", Message: `must be one of "EUR"`}},
		{"missing locale", func(d map[string]any) { delete(d, "locale") },
			schemas.Problem{Pointer: "", Message: `missing property "locale"`}},
		{"bad locale", func(d map[string]any) { d["locale"] = "estonian" },
			schemas.Problem{Pointer: "/locale", Message: `must be a language-country code xx-XX, such as "et-EE"`}},
		{"bad validUntil", func(d map[string]any) { d["validUntil"] = "tomorrow" },
			schemas.Problem{Pointer: "/validUntil", Message: "must be a valid date-time"}},
		{"customerData without identityCode", func(d map[string]any) {
			d["customerData"] = map[string]any{"firstName": "Anna", "lastName": "Ozola"}
		}, schemas.Problem{Pointer: "/customerData", Message: `missing property "identityCode"`}},
		{"customerData without firstName", func(d map[string]any) {
			d["customerData"] = map[string]any{"identityCode": "1", "lastName": "Ozola"}
		}, schemas.Problem{Pointer: "/customerData", Message: `missing property "firstName"`}},
		{"customerData without lastName", func(d map[string]any) {
			d["customerData"] = map[string]any{"identityCode": "1", "firstName": "Anna"}
		}, schemas.Problem{Pointer: "/customerData", Message: `missing property "lastName"`}},
		{"customerContactData without mobile", func(d map[string]any) {
			d["customerContactData"] = map[string]any{"email": "anna@example.com"}
		}, schemas.Problem{Pointer: "/customerContactData", Message: `missing property "mobile"`}},
		{"customerContactData without email", func(d map[string]any) {
			d["customerContactData"] = map[string]any{"mobile": "+37255555555"}
		}, schemas.Problem{Pointer: "/customerContactData", Message: `missing property "email"`}},
		{"missing purchase", func(d map[string]any) { delete(d, "purchase") },
			schemas.Problem{Pointer: "", Message: `missing property "purchase"`}},
		{"missing purchase.description", func(d map[string]any) { delete(obj(d, "purchase"), "description") },
			schemas.Problem{Pointer: "/purchase", Message: `missing property "description"`}},
		{"merchant without merchantOrderReference", func(d map[string]any) {
			obj(d, "purchase")["merchant"] = []any{map[string]any{"merchantDomainName": "shop.example"}}
		}, schemas.Problem{Pointer: "/purchase/merchant/0", Message: `missing property "merchantOrderReference"`}},
		{"missing rentalApplicationData", func(d map[string]any) { delete(d, "rentalApplicationData") },
			schemas.Problem{Pointer: "", Message: `missing property "rentalApplicationData"`}},
		{"missing assets", func(d map[string]any) { delete(obj(d, "rentalApplicationData"), "assets") },
			schemas.Problem{Pointer: "/rentalApplicationData", Message: `missing property "assets"`}},
		{"asset without modelName", func(d map[string]any) { delete(asset(d, 1), "modelName") },
			schemas.Problem{Pointer: a1, Message: `missing property "modelName"`}},
		{"asset without netPrice", func(d map[string]any) { delete(asset(d, 1), "netPrice") },
			schemas.Problem{Pointer: a1, Message: `missing property "netPrice"`}},
		{"hero not MODEL_BASED", func(d map[string]any) {
			asset(d, 0)["type"] = "CATEGORY_BASED"
			asset(d, 0)["categoryCode"] = "add_on"
		}, schemas.Problem{Pointer: a0 + "/type", Message: "the hero device (first asset) must be MODEL_BASED"}},
		{"hero without modelId", func(d map[string]any) { delete(asset(d, 0), "modelId") },
			schemas.Problem{Pointer: a0 + "/modelId", Message: "required: the hero device (first asset) needs a modelId"}},
		{"MODEL_BASED without modelId", func(d map[string]any) {
			asset(d, 1)["type"] = "MODEL_BASED"
			delete(asset(d, 1), "categoryCode")
		}, schemas.Problem{Pointer: a1 + "/modelId", Message: "required for a MODEL_BASED asset"}},
		{"CATEGORY_BASED without categoryCode", func(d map[string]any) {
			asset(d, 1)["type"] = "CATEGORY_BASED"
			delete(asset(d, 1), "categoryCode")
		}, schemas.Problem{Pointer: a1 + "/categoryCode", Message: "required for a CATEGORY_BASED asset"}},
		{"bad categoryCode", func(d map[string]any) { asset(d, 1)["categoryCode"] = "warranty" },
			schemas.Problem{Pointer: a1 + "/categoryCode", Message: `must be one of "add_on", "copying_fee", "shipping_fee"`}},
		{"copying_fee outside Latvia", func(d map[string]any) { asset(d, 1)["categoryCode"] = "copying_fee" },
			schemas.Problem{Pointer: a1 + "/categoryCode", Message: `"copying_fee" is applicable only in Latvia (locale xx-LV)`}},
		{"bad asset type", func(d map[string]any) { asset(d, 1)["type"] = "BUNDLE" },
			schemas.Problem{Pointer: a1 + "/type", Message: `must be one of "MODEL_BASED", "CATEGORY_BASED"`}},
		{"missing period", func(d map[string]any) { delete(obj(d, "rentalApplicationData"), "period") },
			schemas.Problem{Pointer: "/rentalApplicationData", Message: `missing property "period"`}},
		{"partnerUrls without cancelUrl", func(d map[string]any) {
			d["partnerUrls"] = map[string]any{"returnUrl": "https://shop.example/r"}
		}, schemas.Problem{Pointer: "/partnerUrls", Message: `missing property "cancelUrl"`}},
		{"partnerUrls without returnUrl", func(d map[string]any) {
			d["partnerUrls"] = map[string]any{"cancelUrl": "https://shop.example/c"}
		}, schemas.Problem{Pointer: "/partnerUrls", Message: `missing property "returnUrl"`}},
		{"bad callbackUrl", func(d map[string]any) {
			d["partnerUrls"] = map[string]any{"returnUrl": "https://shop.example/r", "cancelUrl": "https://shop.example/c", "callbackUrl": "shop.example/cb"}
		}, schemas.Problem{Pointer: "/partnerUrls/callbackUrl", Message: "must be an absolute http(s) URL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := inbankBody(t)
			tc.mutate(d)
			rep := e.Do(http.MethodPost, "/partner/v3/shops/"+DefaultShopUUID+"/pos-sessions", d,
				"Authorization", "Bearer "+DefaultAPIKey)
			var got apiError
			rep.JSON(t, &got)
			if rep.Status != http.StatusBadRequest || got.Message != "validation_failed" {
				t.Fatalf("%d %s", rep.Status, rep.Body)
			}
			found := false
			for _, p := range got.Details {
				found = found || p == tc.want
			}
			if !found {
				t.Errorf("no %v in %v", tc.want, got.Details)
			}
			// The client refuses the same body with the same problems, before any call.
			raw, _ := json.Marshal(d)
			_, err := e.client.CreateSessionJSON(context.Background(), DefaultShopUUID, raw)
			if ps := schemas.Problems(err); !reflect.DeepEqual(ps, got.Details) {
				t.Errorf("client and sandbox disagree:\nclient  %v\nsandbox %v", ps, got.Details)
			}
		})
	}
	rep := e.Do(http.MethodGet, "/sandbox/inbank/sessions", nil)
	if strings.TrimSpace(string(rep.Body)) != "[]" {
		t.Errorf("invalid bodies created sessions: %s", rep.Body)
	}
}

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

func TestInbankPage(t *testing.T) {
	e := newEnv(t, nil)
	created := e.create(time.Hour)
	client := e.TS.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Get(created.RedirectURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(string(page), "iPhone 15 with a case, 24 months") || !strings.Contains(string(page), `<strong id="status">pending</strong>`) ||
		!strings.Contains(string(page), `value="complete"`) {
		t.Fatalf("page: %d %s", resp.StatusCode, page)
	}
	resp, err = client.PostForm(created.RedirectURL, url.Values{"action": {"complete"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "https://shop.example/return" {
		t.Errorf("sign: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Both callbacks leave at once: they may arrive in either order, as Inbank's may.
	got := map[string]bool{}
	for range 2 {
		cb := e.shop.Next(nil)
		e.verify(cb, created.UUID, decode(cb).Status)
		got[decode(cb).Status] = true
	}
	if !got["granted"] || !got["completed"] {
		t.Errorf("callbacks %v, want granted and completed", got)
	}
	resp, err = client.PostForm(created.RedirectURL, url.Values{"action": {"cancel"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("cancel after completion: %d", resp.StatusCode)
	}

	cancelled := e.create(time.Hour)
	resp, err = client.PostForm(cancelled.RedirectURL, url.Values{"action": {"cancel"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "https://shop.example/cancel" {
		t.Errorf("cancel: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, err := client.Get(e.URL + "/inbank/pay/5e3a459a-aada-4d81-b6ad-09cb9483c8bf"); err != nil || resp.StatusCode != 404 {
		t.Errorf("unknown session page: %v %v", resp, err)
	} else {
		resp.Body.Close()
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
