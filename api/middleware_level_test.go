package api

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/starter"
)

// TestAccessLogLevels: at Info and above, the access log holds what an operator acts on and
// what changed something; reads, the UI's payload decoding and a poller's 404s are Debug.
func TestAccessLogLevels(t *testing.T) {
	codecCalls := 0
	a := newTestAPI(t, func(c *Config) {
		c.Codec = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { codecCalls++; w.WriteHeader(http.StatusOK) })
	})
	body := fixture(t, "webhook-transaction-created.json")
	requests := []struct {
		id, method, path string
		sign             string
		notFound         bool
		want             string
	}{
		{id: "webhook", method: http.MethodPost, path: "/webhooks/epc", sign: signingKey, want: "INFO"},
		{id: "bad-signature", method: http.MethodPost, path: "/webhooks/epc", sign: "wrong-key", want: "WARN"},
		{id: "read", method: http.MethodGet, path: "/v1/transactions/" + txID, want: "DEBUG"},
		{id: "codec", method: http.MethodPost, path: "/codec/decode", want: "DEBUG"},
		{id: "probe", method: http.MethodGet, path: "/healthz", want: "DEBUG"},
		{id: "poll-before-the-order-exists", method: http.MethodGet, path: "/v1/transactions/" + txID, notFound: true, want: "DEBUG"},
		{id: "unknown-route-post", method: http.MethodPost, path: "/v1/nothing", want: "WARN"},
	}
	for _, r := range requests {
		a.eng.setErr(nil)
		if r.notFound {
			a.eng.setErr(starter.ErrNotFound)
		}
		h := map[string]string{RequestIDHeader: "req-" + r.id, "Content-Type": "application/json"}
		var b io.Reader
		if r.sign != "" {
			h[epc.SignatureHeader] = sign(r.sign, body)
			b = bytes.NewReader(body)
		}
		a.do(t, r.method, r.path, b, h)
		line := a.logs.WaitLine(t, func(m map[string]any) bool {
			return m["msg"] == "http request" && m["requestId"] == "req-"+r.id
		})
		if line["level"] != r.want {
			t.Errorf("%s %s (%s): access line at %v, want %s (%v)", r.method, r.path, r.id, line["level"], r.want, line)
		}
	}
	if codecCalls != 1 {
		t.Errorf("codec handler called %d times, want 1", codecCalls)
	}
}
