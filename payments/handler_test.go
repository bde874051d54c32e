package payments

import (
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/mocks"
)

func TestRegisterChecksConfig(t *testing.T) {
	ok := Config{Temporal: &mocks.Client{}, TaskQueue: "q", APIKey: "secret-key", CallbackBaseURL: "http://127.0.0.1:8080"}
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"ok", func(*Config) {}, ""},
		{"no temporal", func(c *Config) { c.Temporal = nil }, "Temporal"},
		{"no queue", func(c *Config) { c.TaskQueue = "" }, "TaskQueue"},
		{"no key", func(c *Config) { c.APIKey = "" }, "APIKey"},
		{"relative callback base", func(c *Config) { c.CallbackBaseURL = "/x" }, "CallbackBaseURL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.edit(&cfg)
			err := Register(gin.New(), cfg)
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
			require.NotContains(t, err.Error(), "secret-key")
		})
	}
}
