package cli

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/sandbox"
)

// closedTemporal is an address nothing listens on: a command that passed its checks fails
// there at once, saying so.
const closedTemporal = "127.0.0.1:1"

const passedChecks = "connect to Temporal at " + closedTemporal

// runPart runs `epcflow <cmd>` with exactly the environment vars (nothing from the process),
// against no Temporal, and returns its error.
func runPart(t *testing.T, cmd string, vars map[string]string, args ...string) error {
	t.Helper()
	var out bytes.Buffer
	args = append([]string{"--temporal-address", closedTemporal, "--blob-dir", t.TempDir()}, args...)
	if cmd == "worker" {
		args = append(args, "--metrics-listen", "")
	}
	return commandRun(t, cmd)(context.Background(), &env{stdout: &out, stderr: &out, getenv: func(k string) string { return vars[k] }}, args)
}

// TestPartsRefuseToStartWithoutTheirSecrets: `api` and `worker` given no configuration, or a
// secret of the sandbox without --sandbox-secrets, refuse to start (exit 2, nothing started),
// and each refusal names the flag and the variable to set.
func TestPartsRefuseToStartWithoutTheirSecrets(t *testing.T) {
	tok := map[string]string{"EPCFLOW_OPERATOR_TOKEN": "op-token-0123"}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name, cmd string
		vars      map[string]string
		args      []string
		want      []string
	}{
		{"api, no configuration", "api", nil, nil, []string{
			"--operator-token (or EPCFLOW_OPERATOR_TOKEN) is required",
			"--webhook-signing-keys (or EPC_WEBHOOK_SIGNING_KEYS) is required",
			"--sandbox-secrets (or EPCFLOW_SANDBOX_SECRETS=true)",
		}},
		{"api, the sandbox's signing key", "api", with(tok, "EPC_WEBHOOK_SIGNING_KEYS", sandbox.DefaultSigningKey), nil,
			[]string{"--webhook-signing-keys (or EPC_WEBHOOK_SIGNING_KEYS) is the EPC sandbox's public secret"}},
		{"api, the sandbox's signing key among others", "api", with(tok, "EPC_WEBHOOK_SIGNING_KEYS", "own-key-1,"+sandbox.DefaultSigningKey), nil,
			[]string{"--webhook-signing-keys (or EPC_WEBHOOK_SIGNING_KEYS) is the EPC sandbox's public secret"}},
		{"api, the sandbox's POS secret and Inbank key", "api",
			with(tok, "EPC_WEBHOOK_SIGNING_KEYS", "own-key-1", "POS_SIGNING_SECRET", sandbox.DefaultPOSSigningSecret, "INBANK_API_KEY", sandbox.DefaultInbankAPIKey), nil,
			[]string{"--pos-signing-secret (or POS_SIGNING_SECRET) is the EPC sandbox's public secret", "--inbank-api-key (or INBANK_API_KEY) is the EPC sandbox's public secret"}},
		{"api, codec keys without a codec token", "api",
			with(tok, "EPC_WEBHOOK_SIGNING_KEYS", "own-key-1", "EPCFLOW_CODEC_KEYS", "k1:ZXBjZmxvdy10ZXN0LWtleS0zMi1ieXRlcy1sb25nLi4="), nil,
			[]string{"--codec-token (or EPCFLOW_CODEC_TOKEN) is required to serve /codec", "--allow-codec-without-token"}},
		{"api, a sweeper grace under the minimum", "api", with(tok, "EPC_WEBHOOK_SIGNING_KEYS", "own-key-1"), []string{"--blob-grace", "1m"},
			[]string{"--blob-grace / --blob-sweep-interval", "must be at least"}},
		{"worker, no configuration", "worker", nil, nil, []string{
			"--epc-client-secret (or EPC_CLIENT_SECRET) is required",
			"--sandbox-secrets (or EPCFLOW_SANDBOX_SECRETS=true)",
		}},
		{"worker, the sandbox's client secret", "worker", map[string]string{"EPC_CLIENT_SECRET": sandbox.DefaultClientSecret}, nil,
			[]string{"--epc-client-secret (or EPC_CLIENT_SECRET) is the EPC sandbox's public secret"}},
		{"worker, the sandbox's Inbank key", "worker", map[string]string{"EPC_CLIENT_SECRET": "own-secret", "INBANK_API_KEY": sandbox.DefaultInbankAPIKey}, nil,
			[]string{"--inbank-api-key (or INBANK_API_KEY) is the EPC sandbox's public secret"}},
		{"worker, the sandbox's secret as a flag", "worker", nil, []string{"--epc-client-secret", sandbox.DefaultClientSecret},
			[]string{"--epc-client-secret (or EPC_CLIENT_SECRET) is the EPC sandbox's public secret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := runPart(t, tt.cmd, tt.vars, tt.args...)
			require.Error(t, err)
			require.True(t, errors.Is(err, errUsage), "a usage error (exit 2), before anything starts: %v", err)
			for _, w := range tt.want {
				require.Contains(t, err.Error(), w)
			}
			for _, secret := range []string{"own-key-1", "op-token-0123", "own-secret", sandbox.DefaultSigningKey} {
				require.NotContains(t, err.Error(), secret, "a refusal never echoes a secret")
			}
		})
	}
}

// TestPartsStartWithTheirSecrets: the allowed cases get past every check (and fail only at
// Temporal, which is not there).
func TestPartsStartWithTheirSecrets(t *testing.T) {
	own := map[string]string{"EPCFLOW_OPERATOR_TOKEN": "op-token-0123", "EPC_WEBHOOK_SIGNING_KEYS": "own-key-1,own-key-2", "EPC_CLIENT_SECRET": "own-secret"}
	keys := "k1:ZXBjZmxvdy10ZXN0LWtleS0zMi1ieXRlcy1sb25nLi4="
	tests := []struct {
		name, cmd string
		vars      map[string]string
		args      []string
	}{
		{"api with its own secrets", "api", own, nil},
		{"api with codec keys and a codec token", "api", merge(own, map[string]string{"EPCFLOW_CODEC_KEYS": keys, "EPCFLOW_CODEC_TOKEN": "codec-token-1"}), nil},
		{"api with codec keys, told to serve /codec without a token", "api", merge(own, map[string]string{"EPCFLOW_CODEC_KEYS": keys}), []string{"--allow-codec-without-token"}},
		{"api against the sandbox (flag)", "api", nil, []string{"--sandbox-secrets", "--allow-open-operator-endpoints"}},
		{"api against the sandbox (variable), its secrets given", "api", map[string]string{
			"EPCFLOW_SANDBOX_SECRETS": "true", "EPCFLOW_OPERATOR_TOKEN": "op-token-0123", "EPC_WEBHOOK_SIGNING_KEYS": sandbox.DefaultSigningKey,
			"INBANK_API_KEY": sandbox.DefaultInbankAPIKey,
		}, nil},
		{"worker with its own secret", "worker", own, nil},
		{"worker against the sandbox (flag)", "worker", nil, []string{"--sandbox-secrets"}},
		{"worker against the sandbox (variable), its secrets given", "worker", map[string]string{
			"EPCFLOW_SANDBOX_SECRETS": "1", "EPC_CLIENT_SECRET": sandbox.DefaultClientSecret, "INBANK_API_KEY": sandbox.DefaultInbankAPIKey,
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := runPart(t, tt.cmd, tt.vars, tt.args...)
			require.ErrorContains(t, err, passedChecks)
		})
	}
}

func merge(a, b map[string]string) map[string]string {
	m := map[string]string{}
	for _, src := range []map[string]string{a, b} {
		for k, v := range src {
			m[k] = v
		}
	}
	return m
}

// TestSandboxSecretsFillRequiredOnly: with --sandbox-secrets a required secret not given
// takes the sandbox's value; an optional one stays off.
func TestSandboxSecretsFillRequiredOnly(t *testing.T) {
	var client, inbank string
	require.NoError(t, sandboxSecrets{on: true}.check(epcClientSecretRule(&client), inbankKeyRule(&inbank)))
	require.Equal(t, sandbox.DefaultClientSecret, client)
	require.Empty(t, inbank, "an optional secret is not switched on by the flag")
	own := "own-secret"
	require.NoError(t, sandboxSecrets{on: true}.check(epcClientSecretRule(&own)))
	require.Equal(t, "own-secret", own, "a given secret is kept")
}
