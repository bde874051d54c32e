package cli

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/internal/slowloris"
	"github.com/epcflow/epcflow/internal/testkit"
)

// sandboxCmd is `epcflow sandbox --listen 127.0.0.1:0` running in the test.
type sandboxCmd struct {
	addr           string // where it listens, once it has said so
	stdout, stderr *testkit.Logs
	stop           func() error // ends it and returns its error
}

// startSandboxCmd runs the sandbox command with the environment vars and waits until it
// says where it listens.
func startSandboxCmd(t *testing.T, vars map[string]string) *sandboxCmd {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sb := &sandboxCmd{stdout: &testkit.Logs{}, stderr: &testkit.Logs{}}
	done := make(chan error, 1)
	go func() {
		done <- runSandbox(ctx, &env{stdout: sb.stdout, stderr: sb.stderr, getenv: func(k string) string { return vars[k] }}, []string{"--listen", "127.0.0.1:0"})
	}()
	sb.stop = func() error {
		cancel()
		return <-done
	}
	sb.addr = sb.stdout.Wait(t, regexp.MustCompile(`EPC sandbox on http://(\S+) `))[1]
	return sb
}

// TestSandboxCutsOffSlowBodies: `epcflow sandbox` bounds a whole request by
// --http-read-timeout (here from its environment variable): a token request trickled one byte
// every 200 ms is cut off, not read for the 200 s it would take.
func TestSandboxCutsOffSlowBodies(t *testing.T) {
	sb := startSandboxCmd(t, map[string]string{"SANDBOX_HTTP_READ_TIMEOUT": "700ms", "SANDBOX_HTTP_READ_HEADER_TIMEOUT": "300ms"})
	t.Cleanup(func() { require.NoError(t, sb.stop()) })
	addr := sb.addr

	stop := make(chan struct{})
	timer := time.AfterFunc(30*time.Second, func() { close(stop) })
	defer timer.Stop()
	res, err := slowloris.Trickle(slowloris.Request{
		Addr: addr, Path: "/oauth2/v1/token", Header: []string{"Content-Type: application/x-www-form-urlencoded"},
		Size: 1000, Interval: 200 * time.Millisecond,
	}, stop)
	require.NoError(t, err)
	require.False(t, res.Stopped, "the sandbox still reads a body trickled for 30 s (read timeout 700ms); %d bytes sent", res.Sent)
	require.Less(t, res.Sent, 1000)
}

// TestHTTPFlagsRefuseNonPositive: a limit of zero or less is refused by its flag before
// anything starts.
func TestHTTPFlagsRefuseNonPositive(t *testing.T) {
	for _, args := range [][]string{
		{"--http-read-timeout", "0s"}, {"--http-max-connections", "0"}, {"--http-max-header-bytes", "-1"},
		{"--http-idle-timeout", "-1s"}, {"--http-read-header-timeout", "1m", "--http-read-timeout", "30s"},
	} {
		var out, errOut bytes.Buffer
		code := Main(context.Background(), append([]string{"sandbox", "--listen", "127.0.0.1:0"}, args...), &out, &errOut)
		require.Equal(t, 2, code, "%v: %s", args, errOut.String())
		require.Contains(t, errOut.String(), args[0], "the refusal names the flag")
		require.True(t, strings.Contains(errOut.String(), "must be positive") || strings.Contains(errOut.String(), "must not exceed"), errOut.String())
	}
}
