package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestOperatorEndpointsNeedAToken: the production API refuses to start with its operator
// endpoints open unless told so, and dev only serves them open on a loopback address. Both
// refusals come before anything is started.
func TestOperatorEndpointsNeedAToken(t *testing.T) {
	t.Setenv("EPCFLOW_OPERATOR_TOKEN", "")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"api without a token", []string{"api"}, 2, "--operator-token (or EPCFLOW_OPERATOR_TOKEN) is required"},
		{"dev on every interface without a token", []string{"dev", "--api-listen", "0.0.0.0:0"}, 2, "reachable from other machines"},
		{"dev on an empty host without a token", []string{"dev", "--api-listen", ":8080"}, 2, "reachable from other machines"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Main(context.Background(), tt.args, &out, &errOut)
			if code != tt.wantCode || !strings.Contains(errOut.String(), tt.wantErr) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errOut.String(), tt.wantCode, tt.wantErr)
			}
		})
	}
}

func TestLoopbackAddr(t *testing.T) {
	tests := map[string]bool{
		"127.0.0.1:8080": true, "[::1]:8080": true, "localhost:8080": true, "127.0.0.2:1": true,
		":8080": false, "0.0.0.0:8080": false, "10.0.0.5:8080": false, "[::]:8080": false, "nonsense": false,
	}
	for addr, want := range tests {
		if got := loopbackAddr(addr); got != want {
			t.Errorf("loopbackAddr(%q) = %v, want %v", addr, got, want)
		}
	}
}
