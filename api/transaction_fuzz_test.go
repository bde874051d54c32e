package api

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/epcflow/epcflow/epc"
)

// directAPI builds the handler for in-process calls (fuzzing, benchmarks), without a listener.
// Its operator token is "t".
func directAPI(tb testing.TB, eng Engine, opts ...func(*Config)) http.Handler {
	tb.Helper()
	cfg := baseConfig(tb, eng)
	cfg.Logger, cfg.OperatorToken = slog.New(slog.DiscardHandler), "t"
	return newHandler(tb, &cfg, opts)
}

func signedWebhook(body []byte) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/webhooks/epc", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(epc.SignatureHeader, sign(signingKey, body))
	return req
}

// FuzzWebhookHandler: whatever an authentic sender posts, the answer is 2xx or 4xx (never a
// 5xx, which the platform would retry forever, nor a panic, which recovery would turn into
// a 500).
func FuzzWebhookHandler(f *testing.F) {
	f.Add(fixture(f, "webhook-transaction-created.json"))
	f.Add(fixture(f, "webhook-event-created.json"))
	for _, s := range []string{
		``, `null`, `[]`, `{}`, `"x"`, `{"eventType":"created"}`, `{"meta":null}`, `{"meta":[]}`,
		`{"eventType":"created","eventTime":"2024-05-01T12:00:00Z","meta":{"resourceType":"urn:elli:epc:transaction","resourceId":"a"}}`,
		`{"eventType":"created","eventTime":"2024-05-01T12:00:00Z","meta":{"resourceType":"urn:elli:epc:transaction:event","resourceId":"a","resourceRef":"%zz"}}`,
		`{"eventType":"created","eventTime":"2024-05-01T12:00:00Z","meta":{"resourceType":"urn:elli:epc:transaction:event","resourceId":"a","resourceRef":"/partner/v2/transactions/%2F/events/e"}}`,
		`{"eventType":"updated","eventTime":"9999-12-31T23:59:59.999999999+14:00","meta":{"resourceType":"urn:elli:epc:transaction","resourceId":"\u0000"}}`,
		`{"eventType":"created","eventTime":"2024-05-01T12:00:00Z","meta":{"resourceType":"urn:elli:epc:transaction","resourceId":"a"}} trailing`,
		"\xff\xfe{}",
	} {
		f.Add([]byte(s))
	}
	h := directAPI(f, &noopEngine{}) // records nothing: the fuzzer runs millions of bodies
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, signedWebhook(body))
		if rec.Code >= 500 || rec.Code < 200 {
			t.Fatalf("status %d for body %q: %s", rec.Code, body, rec.Body)
		}
		if rec.Code == http.StatusUnauthorized {
			t.Fatalf("a correctly signed body got 401: %s", rec.Body)
		}
	})
}

// noopEngine accepts every webhook at once, so the benchmark measures the handler alone.
type noopEngine struct{ fakeEngine }

func (*noopEngine) DeliverWebhook(context.Context, epc.Webhook, string) (string, error) {
	return "run", nil
}

// BenchmarkWebhook: a signed webhook through the whole handler (middlewares, signature,
// schema validation, parsing) to a no-op engine.
func BenchmarkWebhook(b *testing.B) {
	h := directAPI(b, &noopEngine{})
	body := fixture(b, "webhook-transaction-created.json")
	sig := sign(signingKey, body)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/epc", bytes.NewReader(body))
		req.Header.Set(epc.SignatureHeader, sig)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		io.Copy(io.Discard, rec.Body)
	}
}
