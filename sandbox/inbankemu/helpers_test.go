package inbankemu

import (
	"context"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/epcflow/epcflow/internal/testkit"
	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/sandbox/internal/sbtest"
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
const minimal = "pos/testdata/inbank-session-minimal.json"

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
	req, err := pos.ParseSessionRequest(testkit.Fixture(e.T, minimal))
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
