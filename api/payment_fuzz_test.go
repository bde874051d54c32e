package api

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/epcflow/epcflow/internal/testkit"
	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/starter"
	"github.com/epcflow/epcflow/workflows"
)

const (
	fuzzAPIKey   = "fuzz-inbank-key"
	fuzzBaseURL  = "https://partner.example"
	fuzzShopUUID = "3f1c6a0e-2b7d-4c55-9a61-0d2e8f4b7c19"
	fuzzPOSUUID  = "5e3a459a-aada-4d81-b6ad-09cb9483c8bf"
)

// fakeTemporal stands in for Temporal on the payment endpoints: it starts sessions (answering
// the create-session update at once) and takes callback signals, remembering only what the
// request being served sent (each request runs in the fuzzing goroutine). Any other method
// panics through the nil embedded client, which fails the target.
type fakeTemporal struct {
	client.Client
	started  *workflows.PaymentInput
	signals  []workflows.InbankCallback
	signalID string
}

func (f *fakeTemporal) reset() { f.started, f.signals, f.signalID = nil, nil, "" }

func (f *fakeTemporal) NewWithStartWorkflowOperation(_ client.StartWorkflowOptions, _ any, args ...any) client.WithStartWorkflowOperation {
	if in, ok := args[0].(workflows.PaymentInput); ok && len(args) == 1 {
		f.started = &in
	}
	return nil
}

func (f *fakeTemporal) UpdateWithStartWorkflow(context.Context, client.UpdateWithStartWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	if f.started == nil {
		return nil, serviceerror.NewInvalidArgument("unexpected workflow start")
	}
	return createdHandle{id: f.started.ID}, nil
}

// SignalWorkflow answers NotFound for half the session ids, as for a session that has ended.
func (f *fakeTemporal) SignalWorkflow(_ context.Context, workflowID, _, name string, arg any) error {
	cb, ok := arg.(workflows.InbankCallback)
	if !ok || name != workflows.SignalInbankCallback {
		return serviceerror.NewInvalidArgument("unexpected signal")
	}
	f.signals, f.signalID = append(f.signals, cb), workflowID
	if workflowID[len(workflowID)-1]%2 == 0 {
		return serviceerror.NewNotFound("workflow not found")
	}
	return nil
}

type createdHandle struct{ id string }

func (h createdHandle) WorkflowID() string { return workflows.PaymentWorkflowID(h.id) }
func (createdHandle) RunID() string        { return "run-1" }
func (createdHandle) UpdateID() string     { return "update-1" }
func (h createdHandle) Get(_ context.Context, v any) error {
	*v.(*workflows.PaymentCreated) = workflows.PaymentCreated{ID: h.id, POSSessionUUID: fuzzPOSUUID,
		RedirectURL: "https://inbank.example/pos/" + fuzzPOSUUID, Status: pos.StatusPending}
	return nil
}

// paymentsAPI serves the payment routes with Temporal faked (operator token "t"). A panic
// would be recovered as a 500, which fails the targets.
func paymentsAPI(tb testing.TB) (http.Handler, *fakeTemporal) {
	tb.Helper()
	temporal := &fakeTemporal{}
	h := directAPI(tb, &fakeEngine{}, func(c *Config) {
		c.Payments = &Payments{Engine: starter.New(temporal), APIKey: fuzzAPIKey, CallbackBaseURL: fuzzBaseURL}
	})
	return h, temporal
}

// serveOne serves req on h, temporal remembering only what this request sends, and checks
// that the answer is JSON and, for an error, the one error body; a 400 lists its problems.
func serveOne(t *testing.T, h http.Handler, temporal *fakeTemporal, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	temporal.reset()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code < 400 {
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("status %d: answer is not JSON: %q", rec.Code, rec.Body)
		}
		return rec
	}
	if a := decodeErrorBody(t, rec.Code, rec.Body.Bytes()); rec.Code == http.StatusBadRequest && len(a.Problems) == 0 {
		t.Fatalf("400 without problems: %s", rec.Body)
	}
	return rec
}

// nowToken in a fuzzed callback body is replaced by the current Unix time, so that the
// fuzzer can build callbacks inside the accepted window.
const nowToken = "NOW"

// FuzzInbankCallback posts arbitrary callbacks to POST /webhooks/inbank. Signed with the key
// (sig empty), the answer is 202, 400 (malformed) or 401 (stale); with any other signature
// it is 400 or 401. Never a 5xx (Inbank would retry it) nor a panic; a 400 points at its
// problems; only a verified callback reaches the workflow.
func FuzzInbankCallback(f *testing.F) {
	valid := `{"posSessionUuid":"` + fuzzPOSUUID + `","status":"completed","timestamp":` + nowToken + `}`
	session := "0bf34a40-8ca1-4b58-8cbc-dd6b9f67dc63"
	for _, s := range []struct{ body, session, sig string }{
		{valid, session, ""},
		{valid, "0bf34a40-8ca1-4b58-8cbc-dd6b9f67dc6b", ""},
		{valid, "", ""},
		{valid, "../x", ""},
		{valid, session, strings.Repeat("ab", 64)},
		{valid, session, "not hex"},
		{`{"posSessionUuid":"` + fuzzPOSUUID + `","status":"granted","timestamp":1}`, session, ""},
		{`{"posSessionUuid":"` + fuzzPOSUUID + `","status":"granted","timestamp":0` + nowToken + `}`, session, ""},
		{`{"posSessionUuid":"` + fuzzPOSUUID + `","status":"expired","timestamp":1,"timestamp":` + nowToken + `}`, session, ""},
		{`{"posSessionUuid":"` + strings.ToUpper(fuzzPOSUUID) + `","status":"Completed","timestamp":` + nowToken + `.0}`, session, ""},
		{`{"posSessionUuid":null,"status":[],"timestamp":-1}`, session, ""},
		{`{"timestamp":99999999999999999999}`, session, ""},
		{valid + ` {}`, session, ""},
		{`{}`, session, ""}, {``, session, ""}, {`null`, session, ""}, {`[]`, session, ""},
	} {
		f.Add([]byte(s.body), s.session, s.sig)
	}

	h, temporal := paymentsAPI(f)
	f.Fuzz(func(t *testing.T, body []byte, session, sig string) {
		body = bytes.ReplaceAll(body, []byte(nowToken), []byte(strconv.FormatInt(time.Now().Unix(), 10)))
		good := pos.SignCallback(fuzzAPIKey, body, timestampDigits(body))
		forged := sig != "" && !strings.EqualFold(strings.TrimSpace(sig), good)
		if !forged {
			sig = good
		}
		req := httptest.NewRequest(http.MethodPost, InbankCallbackPath+"?session="+url.QueryEscape(session), bytes.NewReader(body))
		req.Header.Set(pos.HeaderInbankSignature, sig)
		rec := serveOne(t, h, temporal, req)

		switch rec.Code {
		case http.StatusAccepted:
			if forged {
				t.Fatalf("a forged callback was accepted: %q", body)
			}
			if len(temporal.signals) != 1 || temporal.signalID != workflows.PaymentWorkflowID(session) {
				t.Fatalf("202 but signals %+v to %q", temporal.signals, temporal.signalID)
			}
			if cb := temporal.signals[0]; !pos.IsUUID(cb.POSSessionUUID) || !cb.Status.Known() {
				t.Fatalf("signalled an unverified claim %+v", cb)
			}
			return
		case http.StatusBadRequest, http.StatusUnauthorized:
		default:
			t.Fatalf("status %d for %q (session %q): %s", rec.Code, body, session, rec.Body)
		}
		if len(temporal.signals) != 0 {
			t.Fatalf("status %d but the workflow was signalled", rec.Code)
		}
	})
}

// timestampDigits is the "timestamp" member of body as its sender wrote it ("" if none), the
// digits a sender signs.
func timestampDigits(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if dec.Decode(&m) != nil {
		return ""
	}
	n, _ := m["timestamp"].(json.Number)
	return n.String()
}

// FuzzCreatePaymentSession posts arbitrary bodies to POST /v1/payment-sessions: the answer is
// 201 or 400, never a 5xx nor a panic; a 400 points at its problems; a 201 only for a body
// that is one JSON object, and the workflow then gets a request that passes seed 001's rules
// with our callbackUrl.
func FuzzCreatePaymentSession(f *testing.F) {
	var doc map[string]any
	testkit.FixtureJSON(f, "pos/testdata/inbank-session-minimal.json", &doc)
	doc["shopUuid"] = fuzzShopUUID
	doc["partnerUrls"] = map[string]any{"returnUrl": "https://shop.test/return", "cancelUrl": "https://shop.test/cancel"}
	valid := testkit.Encode(f, doc)
	f.Add(valid)
	for _, edit := range []func(map[string]any){
		func(m map[string]any) { m["partnerUrls"] = "https://shop.test" },
		func(m map[string]any) {
			m["partnerUrls"] = map[string]any{"returnUrl": "x", "callbackUrl": "https://evil.test/cb"}
		},
		func(m map[string]any) { m["shopUuid"] = 7 },
		func(m map[string]any) { delete(m, "shopUuid"); m["rentalApplicationData"] = []any{} },
		func(m map[string]any) { m["currency"] = nil; m["locale"] = "lv-LV" },
	} {
		d := maps.Clone(doc)
		edit(d)
		f.Add(testkit.Encode(f, d))
	}
	for _, s := range []string{
		string(valid) + ` {}`, string(valid) + `]`, `{"shopUuid":"` + fuzzShopUUID + `","partnerUrls":{}}`,
		`{"a":1e999}`, `{"a":"\ud800"}`, `{}`, `null`, `[]`, ``, `"x"`, "\xff",
	} {
		f.Add([]byte(s))
	}

	h, temporal := paymentsAPI(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, PaymentSessionsPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer t")
		rec := serveOne(t, h, temporal, req)

		switch rec.Code {
		case http.StatusCreated:
			if !json.Valid(body) {
				t.Fatalf("201 for a body that is not one JSON value: %q", body)
			}
			in := temporal.started
			if in == nil || !pos.IsUUID(in.ID) || !pos.IsUUID(in.ShopUUID) {
				t.Fatalf("201 but the workflow got %+v", in)
			}
			if err := pos.ValidateSessionRequest(in.Request); err != nil {
				t.Fatalf("the workflow got a request Inbank would refuse: %v", err)
			}
			var sent struct {
				PartnerURLs struct {
					CallbackURL string `json:"callbackUrl"`
				} `json:"partnerUrls"`
			}
			if err := json.Unmarshal(in.Request, &sent); err != nil ||
				sent.PartnerURLs.CallbackURL != fuzzBaseURL+InbankCallbackPath+"?session="+in.ID {
				t.Fatalf("callbackUrl %q, err %v", sent.PartnerURLs.CallbackURL, err)
			}
		case http.StatusBadRequest:
			if temporal.started != nil {
				t.Fatal("400 but a workflow was started")
			}
		default:
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
	})
}
