package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/epcflow/epcflow/codec"
)

// The codec server is mounted outside the operator group: the UI cannot send the operator
// token, so /codec has its own token (and origin checks), and the operator token opens nothing
// there.
func TestCodecMountedWithItsOwnAuth(t *testing.T) {
	const (
		opToken    = "op-token-1"
		codecToken = "codec-token-1"
		ui         = "http://127.0.0.1:8233"
	)
	a := newTestAPI(t, func(c *Config) {
		c.OperatorToken = opToken
		c.Codec = codec.Handler(codec.Ephemeral(), codec.HandlerOptions{Token: codecToken, AllowedOrigins: []string{ui}})
	})
	encode := func(auth string) response {
		h := map[string]string{"Content-Type": "application/json", "Origin": ui}
		if auth != "" {
			h["Authorization"] = "Bearer " + auth
		}
		return a.do(t, http.MethodPost, "/codec/encode", strings.NewReader(`{"payloads":[{"data":"eA=="}]}`), h)
	}
	if r := encode(codecToken); r.status != http.StatusOK || !strings.Contains(string(r.body), "YmluYXJ5L2VuY3J5cHRlZA==") {
		t.Fatalf("with the codec token: %d %s", r.status, r.body)
	}
	if r := encode(opToken); r.status != http.StatusUnauthorized {
		t.Errorf("with the operator token: %d, want 401", r.status)
	}
	if r := encode(""); r.status != http.StatusUnauthorized || r.header.Get("Access-Control-Allow-Origin") != ui {
		t.Errorf("without a token: %d (CORS %q), want 401 readable by the UI", r.status, r.header.Get("Access-Control-Allow-Origin"))
	}
	pre := a.do(t, http.MethodOptions, "/codec/decode", nil, map[string]string{"Origin": ui, "Access-Control-Request-Method": "POST"})
	if pre.status != http.StatusNoContent || pre.header.Get("Access-Control-Allow-Origin") != ui {
		t.Errorf("preflight: %d %v", pre.status, pre.header)
	}
	if strings.Contains(a.logs.String(), codecToken) {
		t.Error("the codec token appears in the log")
	}

	// Without a codec configured there is no /codec.
	b := newTestAPI(t)
	if r := b.do(t, http.MethodPost, "/codec/decode", strings.NewReader(`{}`), nil); r.status != http.StatusNotFound {
		t.Errorf("no codec: %d, want 404", r.status)
	}
}
