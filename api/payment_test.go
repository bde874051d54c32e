package api

import (
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
