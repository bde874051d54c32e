package cli

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSandboxTracesWhenConfigured: with OTEL_TRACES_EXPORTER=console, `epcflow sandbox`
// says tracing is on, serves each request as a span that joins the caller's trace, and writes
// its spans out by the time it exits.
func TestSandboxTracesWhenConfigured(t *testing.T) {
	sb := startSandboxCmd(t, map[string]string{"OTEL_TRACES_EXPORTER": "console"})
	addr := sb.addr
	sb.stderr.Wait(t, regexp.MustCompile(`msg="tracing on" service=epcflow-sandbox exporters=\[console\]`))

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/oauth2/v1/token", strings.NewReader("grant_type=client_credentials"))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()

	require.NoError(t, sb.stop())
	sb.stdout.Wait(t, regexp.MustCompile(`"Name":"POST /oauth2/v1/token".*"TraceID":"`+traceID+`"`))
}

// TestTracingOffByDefault: with no OTEL_* variable the command says nothing about tracing
// (and exports nothing); a value it cannot honour is a usage error naming the variable.
func TestTracingOffByDefault(t *testing.T) {
	var out bytes.Buffer
	tr, err := startTracing(context.Background(), &env{stdout: &out, stderr: &out, getenv: func(string) string { return "" }}, "epcflow-test", slog.New(slog.NewTextHandler(&out, nil)))
	require.NoError(t, err)
	require.Nil(t, tr.provider())
	tr.stop()
	require.Empty(t, out.String())

	t.Setenv("OTEL_TRACES_EXPORTER", "zipkin")
	var errOut bytes.Buffer
	code := Main(context.Background(), []string{"sandbox", "--listen", "127.0.0.1:0"}, &out, &errOut)
	require.Equal(t, 2, code, errOut.String())
	require.Contains(t, errOut.String(), `OTEL_TRACES_EXPORTER="zipkin"`)
}
