package sandbox

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/epcflow/epcflow/internal/httpserver"
	"github.com/epcflow/epcflow/pos"
)

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"partner URL not a URL", Config{PartnerURL: "127.0.0.1:8080"}, "PartnerURL: not a valid URL"},
		{"partner URL not http", Config{PartnerURL: "ftp://partner"}, "PartnerURL: scheme must be http or https"},
		{"public URL with query", Config{PublicURL: "http://x/?a=b"}, "PublicURL: must not contain a query or fragment"},
		{"negative tries", Config{WebhookTries: -1}, "WebhookTries: must not be negative"},
		{"inbank shop not a UUID", Config{InbankShops: map[string]InbankShop{"shop-1": {APIKey: "secret-key-1"}}}, `InbankShops: "shop-1" is not a UUID`},
		{"inbank shop without key", Config{InbankShops: map[string]InbankShop{DefaultInbankShopUUID: {}}}, "InbankShops[" + DefaultInbankShopUUID + "]: APIKey required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secret-key-1") {
				t.Errorf("New = %v, want an error with %q (and no key)", err, tc.want)
			}
		})
	}
}

// TestEveryPlatformMounted: one handler serves the three emulators and the shared control
// routes, each emulator configured from Config, and fault rules may name any route.
func TestEveryPlatformMounted(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.POSSigningSecret = "pos-secret" })
	e.Order(nil)
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/sandbox/epc/transactions", http.StatusOK},
		{http.MethodGet, "/sandbox/inbank/sessions", http.StatusOK},
		{http.MethodGet, "/sandbox/pos/packages/nope", http.StatusNotFound},
		{http.MethodGet, "/sandbox/webhooks/behavior", http.StatusOK},
		{http.MethodGet, "/partner/v3/shops/" + DefaultInbankShopUUID + "/pos-sessions/nope", http.StatusUnauthorized},
	} {
		e.Must(c.status, c.method, c.path, nil)
	}
	e.Must(http.StatusOK, http.MethodPut, "/sandbox/faults", map[string]any{"rules": []any{
		map[string]any{"route": "GET /partner/v3/shops/{shopUuid}/pos-sessions/{uuid}", "status": 500},
		map[string]any{"route": "POST /pos/v1/sessions", "status": 500},
		map[string]any{"route": "GET /sandbox/epc/transactions", "status": 500},
	}})
	e.Must(http.StatusInternalServerError, http.MethodGet, "/sandbox/epc/transactions", nil)

	// The POS Framework checks signatures with Config's secret.
	body := []byte(`{"instanceId":"i","groupNamespace":"loans","groupId":"g","packageId":"p","recipientId":"r","userId":"u"}`)
	e.Must(http.StatusNoContent, http.MethodDelete, "/sandbox/faults", nil)
	for secret, status := range map[string]int{DefaultPOSSigningSecret: http.StatusUnauthorized, "pos-secret": http.StatusNotFound} {
		signer, err := pos.NewSigner("", DefaultPOSSubscriptionID, DefaultPOSSigningKeyID, secret)
		if err != nil {
			t.Fatal(err)
		}
		var hdr []string
		for k := range signer.Header(body) {
			hdr = append(hdr, k, signer.Header(body).Get(k))
		}
		e.Must(status, http.MethodPost, "/pos/v1/sessions", body, hdr...)
	}
}

func TestServe(t *testing.T) {
	srv, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, httpserver.Limits{}) }()
	base := "http://" + ln.Addr().String()
	rep, err := http.Get(base + "/sandbox/epc/transactions")
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	rep.Body.Close()
	if rep.StatusCode != http.StatusOK {
		t.Errorf("GET list: %d", rep.StatusCode)
	}
	if got := srv.PublicURL(); got != base {
		t.Errorf("PublicURL = %q, want %q", got, base)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve after cancel = %v", err)
	}
}
