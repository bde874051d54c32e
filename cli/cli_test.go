package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/epcflow/epcflow/epc"
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

// TestEnvironmentValues: a variable sets its flag, the command line wins, and a value the
// flag cannot take is refused naming the variable, not silently replaced by the default.
func TestEnvironmentValues(t *testing.T) {
	env := func(vars map[string]string) *env {
		return &env{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, getenv: func(k string) string { return vars[k] }}
	}
	f := newFlags(env(map[string]string{"EPCFLOW_N": "7", "EPCFLOW_S": "from-env"}), "t")
	var n int
	var s string
	f.integer(&n, "n", "EPCFLOW_N", 1, "")
	f.str(&s, "s", "EPCFLOW_S", "default", "")
	if err := f.parse([]string{"--s", "from-flag"}); err != nil || n != 7 || s != "from-flag" {
		t.Fatalf("n=%d s=%q err=%v; want 7, from-flag", n, s, err)
	}

	f = newFlags(env(map[string]string{"EPCFLOW_N": "seven", "EPCFLOW_D": "soon"}), "t")
	var d time.Duration
	f.integer(&n, "n", "EPCFLOW_N", 1, "")
	f.duration(&d, "d", "EPCFLOW_D", time.Second, "")
	err := f.parse(nil)
	for _, want := range []string{"EPCFLOW_N: not a valid value for --n", "EPCFLOW_D: not a valid value for --d"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v; want it to say %q", err, want)
		}
	}
}

// TestWorkerAuthStyle: --epc-auth-style / EPC_AUTH_STYLE take form or basic; anything else
// is refused before the worker starts, naming the variable or the flag.
func TestWorkerAuthStyle(t *testing.T) {
	tests := []struct {
		name, env string
		args      []string
		want      string
	}{
		{"bad variable", "header", nil, "environment variable EPC_AUTH_STYLE: not a valid value for --epc-auth-style"},
		{"bad flag", "", []string{"--epc-auth-style", "header"}, "flag -epc-auth-style: must be form or basic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("EPC_AUTH_STYLE", tt.env)
			var out, errOut bytes.Buffer
			code := Main(context.Background(), append([]string{"worker"}, tt.args...), &out, &errOut)
			if code != 2 || !strings.Contains(errOut.String(), tt.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, errOut.String(), tt.want)
			}
		})
	}
	f := newFlags(&env{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, getenv: func(k string) string {
		return map[string]string{"EPC_AUTH_STYLE": "basic"}[k]
	}}, "t")
	var style epc.AuthStyle
	f.value(&style, "epc-auth-style", "EPC_AUTH_STYLE", "")
	if err := f.parse(nil); err != nil || style != epc.AuthBasic {
		t.Fatalf("style %q, err %v; want basic", style, err)
	}
}

// TestWebhookPathSettingsAreChecked: a recheck interval or a dedup retention that is not
// positive is refused before anything starts, naming the flag.
func TestWebhookPathSettingsAreChecked(t *testing.T) {
	t.Setenv("EPCFLOW_OPERATOR_TOKEN", "t")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"worker, recheck 0", []string{"worker", "--sandbox-secrets", "--recheck-interval", "0s"}, "--recheck-interval 0s: must be positive"},
		{"dev, negative recheck", []string{"dev", "--recheck-interval", "-1h"}, "--recheck-interval -1h0m0s: must be positive"},
		{"api, dedup retention 0", []string{"api", "--sandbox-secrets", "--dedup-retention", "0s"}, "--dedup-retention 0s and --dedup-max-keys 1000000: both must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Main(context.Background(), tt.args, &out, &errOut)
			if code != 2 || !strings.Contains(errOut.String(), tt.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, errOut.String(), tt.want)
			}
		})
	}
}
