package api

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/mocks"

	"github.com/epcflow/epcflow/starter"
)

func TestPaymentsConfigChecked(t *testing.T) {
	ok := Payments{Engine: starter.New(&mocks.Client{}), APIKey: "secret-key", CallbackBaseURL: "http://127.0.0.1:8080"}
	tests := []struct {
		name string
		edit func(*Payments)
		want string
	}{
		{"ok", func(*Payments) {}, ""},
		{"no engine", func(c *Payments) { c.Engine = nil }, "Engine"},
		{"no key", func(c *Payments) { c.APIKey = "" }, "APIKey"},
		{"relative callback base", func(c *Payments) { c.CallbackBaseURL = "/x" }, "CallbackBaseURL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.edit(&cfg)
			err := cfg.check()
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
			require.NotContains(t, err.Error(), "secret-key")
		})
	}
}

// TestKeyedPaymentID: an Idempotency-Key names one session id for good (sessions started
// under a key before an upgrade are found again), a version-8 UUID; the expected id is what the
// hand-written formatting before github.com/google/uuid gave.
func TestKeyedPaymentID(t *testing.T) {
	require.Equal(t, "ca270f86-0fe9-843c-8e7c-7e107a8ad919", keyedPaymentID("order-4711-payment"))
	require.NotEqual(t, keyedPaymentID("a"), keyedPaymentID("b"))
}

// TestPaymentAmountsRefusedBeforeInbank: amounts that were accepted (0, 1e308,
// 0.30000000000000004, a 10^12-month period) or made Inbank answer 500 (1e400) are refused
// with 400 at their pointer, and no session is started.
func TestPaymentAmountsRefusedBeforeInbank(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "pos", "testdata", "inbank-session-minimal.json"))
	require.NoError(t, err)
	minimal := strings.Replace(string(raw), "{", `{"shopUuid":"`+fuzzShopUUID+`","partnerUrls":{"returnUrl":"https://shop.test/r","cancelUrl":"https://shop.test/c"},`, 1)
	hero := "/rentalApplicationData/assets/0/netPrice"
	for _, tt := range []struct{ from, to, ptr string }{
		{`"netPrice": 699.17`, `"netPrice": 0`, hero},
		{`"netPrice": 699.17`, `"netPrice": 1e308`, hero},
		{`"netPrice": 699.17`, `"netPrice": 0.30000000000000004`, hero},
		{`"netPrice": 699.17`, `"netPrice": 1e400`, hero},
		{`"period": 24`, `"period": 1000000000000`, "/rentalApplicationData/period"},
	} {
		h, temporal := paymentsAPI(t)
		body := strings.Replace(minimal, tt.from, tt.to, 1)
		require.NotEqual(t, minimal, body)
		req := httptest.NewRequest(http.MethodPost, PaymentSessionsPath, bytes.NewReader([]byte(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer t")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, http.StatusBadRequest, rec.Code, "%s: %s", tt.to, rec.Body)
		require.Equal(t, []string{tt.ptr}, pointers(decodeErrorBody(t, rec.Code, rec.Body.Bytes()).Problems), "%s: %s", tt.to, rec.Body)
		require.Nil(t, temporal.started, "%s: a session was started", tt.to)
	}
}
