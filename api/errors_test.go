package api

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.temporal.io/sdk/mocks"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/portal"
	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/starter"
)

// TestOneErrorBodyOnEveryRoute: every flow's routes, the router's own answers (no route, no
// method), 413s and 503s answer errors with ErrorBody, with the status the contract fixes
// and the code that names the refusal.
func TestOneErrorBodyOnEveryRoute(t *testing.T) {
	store, signer := deliveryParts(t, "pos-secret")
	temporal := starter.New(&mocks.Client{}) // no call may reach it: every case fails before
	const token = "op-token"
	a := newTestAPI(t, func(c *Config) {
		c.OperatorToken = token
		c.MaxWebhookBytes = 4 << 10
		c.Ready = func(context.Context) error { return errors.New("connection refused") }
		c.Delivery = &Delivery{Verifier: signer.Verifier(), Portal: store, Engine: temporal, PortalBaseURL: "https://partner.example", Secret: portal.RandomSecret(),
			DeliveryRoom: &pos.DeliveryRoomClient{BaseURL: "http://127.0.0.1:1", Signer: signer}}
		c.Payments = &Payments{Engine: temporal, APIKey: "inbank-key", CallbackBaseURL: "https://partner.example"}
	})
	a.eng.setErr(starter.ErrUnavailable)
	auth := map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json"}
	signedWebhook := func(body string) map[string]string {
		return map[string]string{epc.SignatureHeader: sign(signingKey, []byte(body))}
	}
	signedPackage := func(body string) map[string]string {
		h := map[string]string{}
		signed := signer.Header([]byte(body))
		for k := range signed {
			h[k] = signed.Get(k)
		}
		return h
	}
	big := strings.Repeat("x", 2<<20)
	tests := []struct {
		name, method, path, body string
		header                   map[string]string
		status                   int
		code                     string
		problems                 bool
	}{
		{"no route", http.MethodGet, "/nope", "", nil, 404, CodeNotFound, false},
		{"no method", http.MethodGet, WebhookPath, "", nil, 405, CodeMethodNotAllowed, false},
		{"webhook unsigned", http.MethodPost, WebhookPath, `{}`, nil, 401, CodeBadSignature, false},
		{"webhook signed wrong", http.MethodPost, WebhookPath, `{}`, map[string]string{epc.SignatureHeader: "bm9wZQ=="}, 401, CodeBadSignature, false},
		{"webhook too large", http.MethodPost, WebhookPath, big, nil, 413, CodeBodyTooLarge, false},
		{"webhook invalid", http.MethodPost, WebhookPath, `{}`, signedWebhook(`{}`), 400, CodeInvalidRequest, true},
		{"webhook, engine down", http.MethodPost, WebhookPath, string(fixture(t, "webhook-transaction-created.json")),
			signedWebhook(string(fixture(t, "webhook-transaction-created.json"))), 503, CodeUnavailable, false},
		{"operator without token", http.MethodGet, "/v1/transactions/" + txID, "", nil, 401, CodeUnauthorized, false},
		{"operator, bad id", http.MethodGet, "/v1/transactions/a%20b", "", auth, 400, CodeInvalidRequest, false},
		{"operator, engine down", http.MethodGet, "/v1/transactions/" + txID, "", auth, 503, CodeUnavailable, false},
		{"operator, not JSON", http.MethodPost, "/v1/transactions/" + txID + "/events", "text=x",
			map[string]string{"Authorization": "Bearer " + token, "Content-Type": "text/plain"}, 415, CodeUnsupportedMediaType, false},
		{"operator, invalid", http.MethodPost, "/v1/transactions/" + txID + "/events", `{"texte":1}`, auth, 400, CodeInvalidRequest, true},
		{"package unsigned", http.MethodPost, PackagesPath, `{}`, nil, 401, CodeBadSignature, false},
		{"package invalid", http.MethodPost, PackagesPath, `{}`, signedPackage(`{}`), 400, CodeInvalidRequest, true},
		{"package too large", http.MethodPost, PackagesPath, big, nil, 413, CodeBodyTooLarge, false},
		{"portal without sign-in", http.MethodGet, OpenURLPath("p", "r"), "", nil, 401, CodeUnauthorized, false},
		{"portal unknown token", http.MethodGet, SignInURL("", "pt_unknown", ""), "", nil, 401, CodeUnauthorized, false},
		{"portal forged invitation", http.MethodGet, SignInURL("", "pi_0123456789abcdef01234567.bm9wZQ", ""), "", nil, 401, CodeUnauthorized, false},
		{"portal home without sign-in", http.MethodGet, HomePath, "", nil, 401, CodeUnauthorized, false},
		{"portal unknown session", http.MethodGet, OpenURLPath("p", "r"), "", map[string]string{"Cookie": CookieName + "=ps_unknown"}, 401, CodeUnauthorized, false},
		{"portal open redirect", http.MethodGet, SignInURL("", "pt_x", "https://evil.example/portal/"), "", nil, 400, CodeInvalidRequest, false},
		{"payment without token", http.MethodPost, PaymentSessionsPath, `{}`, nil, 401, CodeUnauthorized, false},
		{"payment invalid", http.MethodPost, PaymentSessionsPath, `{}`, auth, 400, CodeInvalidRequest, true},
		{"payment unknown", http.MethodGet, PaymentSessionsPath + "/not-a-uuid", "", auth, 404, CodeNotFound, false},
		{"payment too large", http.MethodPost, PaymentSessionsPath, big, auth, 413, CodeBodyTooLarge, false},
		{"inbank callback unsigned", http.MethodPost, InbankCallbackPath + "?session=x", `{}`, nil, 401, CodeBadSignature, false},
		{"readyz, temporal down", http.MethodGet, "/readyz", "", nil, 503, CodeUnavailable, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.do(t, tt.method, tt.path, strings.NewReader(tt.body), tt.header)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			e := r.errorBody(t)
			if e.Code != tt.code || (len(e.Problems) > 0) != tt.problems {
				t.Fatalf("body %s: want code %s, problems %v", r.body, tt.code, tt.problems)
			}
			if tt.status == 503 && tt.path != "/readyz" && r.header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		})
	}
}

// TestPanicAnswersTheErrorBody: a recovered panic answers the one body too.
func TestPanicAnswersTheErrorBody(t *testing.T) {
	h := directAPI(t, &fakeEngine{hook: func(context.Context) error { panic("boom") }})
	req := httptest.NewRequest(http.MethodGet, "/v1/transactions/"+txID, bytes.NewReader(nil))
	req.Header.Set("Authorization", "Bearer t")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if e := decodeErrorBody(t, rec.Code, rec.Body.Bytes()); rec.Code != 500 || e.Code != CodeInternal {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}
