package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/epcflow/epcflow/blobs"
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/starter"
)

func TestOperatorToken(t *testing.T) {
	const token = "op-token-9d8c7b6a"
	a := newTestAPI(t, func(c *Config) { c.OperatorToken = token })
	status := "/v1/transactions/" + txID
	schedule := status + "/schedule"
	body := `{"inspectionAt":"2026-07-01T14:00:00Z"}`
	tests := []struct {
		name   string
		method string
		path   string
		auth   string
		want   int
	}{
		{"read without token", http.MethodGet, status, "", 401},
		{"read with a wrong token", http.MethodGet, status, "Bearer nope", 401},
		{"read with the token's prefix", http.MethodGet, status, "Bearer " + token[:5], 401},
		{"read with another scheme", http.MethodGet, status, "Basic " + token, 401},
		{"read with the token", http.MethodGet, status, "Bearer " + token, 200},
		{"scheme is case-insensitive", http.MethodGet, status, "bearer " + token, 200},
		{"action without token", http.MethodPost, schedule, "", 401},
		{"action with the token", http.MethodPost, schedule, "Bearer " + token, 200},
		{"health stays open", http.MethodGet, "/healthz", "", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := a.eng.calls()
			h := map[string]string{"Content-Type": "application/json"}
			if tc.auth != "" {
				h["Authorization"] = tc.auth
			}
			var r io.Reader
			if tc.method == http.MethodPost {
				r = strings.NewReader(body)
			}
			resp := a.do(t, tc.method, tc.path, r, h)
			if resp.status != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.status, tc.want, resp.body)
			}
			if tc.want == 401 {
				if a.eng.calls() != before {
					t.Error("engine called without a valid token")
				}
				if resp.header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
			}
		})
	}
	// The webhook is authenticated by its signature, not the operator token.
	if resp := a.webhook(t, fixture(t, "webhook-transaction-created.json"), signingKey); resp.status != 202 {
		t.Errorf("webhook: status %d", resp.status)
	}
	if strings.Contains(a.logs.String(), token) {
		t.Error("the operator token appears in the log")
	}
}

func TestOpenOperatorEndpointsWarn(t *testing.T) {
	a := newTestAPI(t)
	a.logs.WaitLine(t, func(m map[string]any) bool {
		return m["level"] == "WARN" && strings.Contains(fmt.Sprint(m["msg"]), "no operator token")
	})
}

func TestHealthReadyMetrics(t *testing.T) {
	var readyErr atomic.Pointer[error]
	a := newTestAPI(t, func(c *Config) {
		c.Ready = func(ctx context.Context) error {
			if _, ok := ctx.Deadline(); !ok {
				return errors.New("no deadline on the readiness check")
			}
			if e := readyErr.Load(); e != nil {
				return *e
			}
			return nil
		}
	})
	if r := a.do(t, http.MethodGet, "/healthz", nil, nil); r.status != 200 || r.json(t)["status"] != "ok" {
		t.Errorf("healthz: %d %s", r.status, r.body)
	}
	if r := a.do(t, http.MethodGet, "/readyz", nil, nil); r.status != 200 {
		t.Errorf("readyz: %d %s", r.status, r.body)
	}
	down := errors.New("dial tcp 127.0.0.1:7233: connection refused")
	readyErr.Store(&down)
	r := a.do(t, http.MethodGet, "/readyz", nil, nil)
	if r.status != 503 || !strings.Contains(r.json(t)["message"].(string), "connection refused") {
		t.Errorf("readyz when Temporal is down: %d %s", r.status, r.body)
	}
	if r := a.do(t, http.MethodGet, "/healthz", nil, nil); r.status != 200 {
		t.Errorf("healthz must not depend on Temporal: %d", r.status)
	}

	a.webhook(t, fixture(t, "webhook-transaction-created.json"), signingKey)
	a.do(t, http.MethodGet, "/v1/transactions/"+txID, nil, nil)
	a.do(t, http.MethodGet, "/wp-login.php", nil, nil)
	a.reg.TemporalHandler().Counter("temporal_request").Inc(1)
	m := a.do(t, http.MethodGet, "/metrics", nil, nil)
	if m.status != 200 {
		t.Fatalf("metrics: %d", m.status)
	}
	for _, want := range []string{
		`http_requests_total{code="202",method="POST",route="/webhooks/epc"} 1`,
		`http_requests_total{code="200",method="GET",route="/v1/transactions/:id"} 1`,
		`http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`http_request_duration_seconds_bucket{method="POST",route="/webhooks/epc",le="+Inf"} 1`,
		"temporal_request 1",
	} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestRequestID(t *testing.T) {
	a := newTestAPI(t)
	hexID := regexp.MustCompile(`^[0-9a-f]{32}$`)
	tests := []struct {
		name, sent string
		echoed     bool
	}{
		{"sane id echoed", "req-123.abc:7_X", true},
		{"none sent", "", false},
		{"unsafe characters replaced", "abc\"} {\"x", false},
		{"too long replaced", strings.Repeat("a", 129), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.sent != "" {
				h[RequestIDHeader] = tc.sent
			}
			got := a.do(t, http.MethodGet, "/healthz", nil, h).header.Get(RequestIDHeader)
			if tc.echoed && got != tc.sent {
				t.Errorf("X-Request-Id = %q, want %q", got, tc.sent)
			}
			if !tc.echoed && !hexID.MatchString(got) {
				t.Errorf("X-Request-Id = %q, want a generated id", got)
			}
		})
	}
}

func TestLogLines(t *testing.T) {
	a := newTestAPI(t)
	body := fixture(t, "webhook-transaction-created.json")
	sig := sign(signingKey, body)
	resp := a.do(t, http.MethodPost, "/webhooks/epc", bytes.NewReader(body), map[string]string{
		epc.SignatureHeader: sig, RequestIDHeader: "req-webhook-1",
	})
	if resp.status != 202 {
		t.Fatalf("status %d", resp.status)
	}
	access := a.logs.WaitLine(t, func(m map[string]any) bool {
		return m["msg"] == "http request" && m["requestId"] == "req-webhook-1"
	})
	for k, want := range map[string]any{
		"transactionId": txID, "method": "POST", "route": "/webhooks/epc", "status": float64(202),
	} {
		if access[k] != want {
			t.Errorf("access log %s = %v, want %v (line %v)", k, access[k], want, access)
		}
	}
	if _, ok := access["duration"]; !ok {
		t.Error("access log without duration")
	}
	// The handler's own line carries both ids too.
	a.logs.WaitLine(t, func(m map[string]any) bool {
		return m["msg"] == "webhook delivered to workflow" && m["requestId"] == "req-webhook-1" && m["transactionId"] == txID
	})

	// A read: the transaction id comes from the path.
	a.do(t, http.MethodGet, "/v1/transactions/"+txID, nil, map[string]string{RequestIDHeader: "req-read-1"})
	a.logs.WaitLine(t, func(m map[string]any) bool {
		return m["msg"] == "http request" && m["requestId"] == "req-read-1" && m["transactionId"] == txID && m["route"] == "/v1/transactions/:id"
	})

	// A rejected signature is logged without the signature or the body.
	badSig := sign("wrong-key", body)
	a.do(t, http.MethodPost, "/webhooks/epc", bytes.NewReader(body), map[string]string{epc.SignatureHeader: badSig, RequestIDHeader: "req-bad-sig"})
	bad := a.logs.WaitLine(t, func(m map[string]any) bool { return m["requestId"] == "req-bad-sig" })
	if bad["status"] != float64(401) || bad["level"] != "WARN" {
		t.Errorf("bad-signature access line %v", bad)
	}
	logs := a.logs.String()
	for _, secret := range []string{sig, badSig, signingKey, "BE11172718"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains %q (a signature, key or body content)", secret)
		}
	}
}

func TestPanicIsA500WithoutInternals(t *testing.T) {
	a := newTestAPI(t)
	a.eng.setHook(func(context.Context) error { panic("secret internal detail: db password hunter2") })
	resp := a.do(t, http.MethodGet, "/v1/transactions/"+txID, nil, map[string]string{RequestIDHeader: "req-panic"})
	if resp.status != 500 {
		t.Fatalf("status %d, want 500", resp.status)
	}
	if strings.Contains(string(resp.body), "hunter2") || strings.Contains(string(resp.body), "goroutine") {
		t.Errorf("500 leaks internals: %s", resp.body)
	}
	if e := resp.errorBody(t); e.Code != CodeInternal || e.Message != "internal error" || resp.header.Get(RequestIDHeader) != "req-panic" {
		t.Errorf("500 body %s, request id %q", resp.body, resp.header.Get(RequestIDHeader))
	}
	a.logs.WaitLine(t, func(m map[string]any) bool {
		return m["msg"] == "panic while serving request" && m["requestId"] == "req-panic" && m["stack"] != nil
	})
	// The server survives.
	if r := a.do(t, http.MethodGet, "/healthz", nil, nil); r.status != 200 {
		t.Errorf("after a panic: healthz %d", r.status)
	}
}

func TestOperatorTimeoutIs504(t *testing.T) {
	a := newTestAPI(t, func(c *Config) { c.OperatorTimeout = 50 * time.Millisecond })
	a.eng.setHook(func(ctx context.Context) error {
		<-ctx.Done()
		return fmt.Errorf("%w: %w", starter.ErrUnavailable, ctx.Err())
	})
	resp := a.postJSON(t, "/v1/transactions/"+txID+"/events", `{"text":"x"}`, nil)
	if resp.status != http.StatusGatewayTimeout || !strings.Contains(resp.json(t)["message"].(string), "/v1/transactions/"+txID) {
		t.Fatalf("status %d %s, want 504 pointing at the status endpoint", resp.status, resp.body)
	}
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	a := newTestAPI(t)
	r := a.do(t, http.MethodGet, "/nope", nil, nil)
	if r.status != 404 || r.errorBody(t).Code != CodeNotFound {
		t.Errorf("unknown route: %d %s", r.status, r.body)
	}
	r = a.do(t, http.MethodGet, "/webhooks/epc", nil, nil)
	if r.status != 405 || r.errorBody(t).Code != CodeMethodNotAllowed || !strings.Contains(r.header.Get("Allow"), "POST") {
		t.Errorf("wrong method: %d %s Allow=%q", r.status, r.body, r.header.Get("Allow"))
	}
	if a.eng.calls() != 0 {
		t.Error("engine called")
	}
}

func TestNewRequiresItsParts(t *testing.T) {
	v, _ := epc.NewVerifier(signingKey)
	store, _ := blobs.NewStore(t.TempDir())
	eng := &fakeEngine{}
	quiet := slog.New(slog.DiscardHandler)
	for name, cfg := range map[string]Config{
		"engine":   {Verifier: v, Blobs: store, Logger: quiet},
		"verifier": {Engine: eng, Blobs: store, Logger: quiet},
		"blobs":    {Engine: eng, Verifier: v, Logger: quiet},
	} {
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "required") {
			t.Errorf("without %s: err = %v", name, err)
		}
	}
	h, err := New(Config{Engine: eng, Verifier: v, Blobs: store, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	// Defaults: its own metrics registry, always ready.
	for _, path := range []string{"/metrics", "/readyz"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != 200 {
			t.Errorf("%s: %d", path, rec.Code)
		}
	}
}
