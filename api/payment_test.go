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
