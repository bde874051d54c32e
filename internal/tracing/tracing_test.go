package tracing_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/epcflow/epcflow/internal/tracing"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestOffUnlessConfigured(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"nothing set":          {},
		"only a service name":  {"OTEL_SERVICE_NAME": "api"},
		"only a sampler":       {"OTEL_TRACES_SAMPLER": "always_on"},
		"SDK disabled":         {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"},
		"exporter none":        {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"},
		"none among exporters": {"OTEL_TRACES_EXPORTER": "console,none"},
	} {
		t.Run(name, func(t *testing.T) {
			tr, err := tracing.Setup(context.Background(), tracing.Options{Service: "epcflow-test", Getenv: envOf(env)})
			require.NoError(t, err)
			require.Nil(t, tr.Provider())
			require.Empty(t, tr.Exporters)
			require.NoError(t, tr.Shutdown(context.Background()))
		})
	}
}

func TestRefusesWhatItCannotHonour(t *testing.T) {
	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"unknown exporter": {map[string]string{"OTEL_TRACES_EXPORTER": "otlp,zipkin"}, `OTEL_TRACES_EXPORTER="otlp,zipkin": exporter "zipkin" is not in this build`},
		"http/json": {map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
			`OTEL_EXPORTER_OTLP_PROTOCOL="http/json": want http/protobuf or grpc`},
		"traces protocol wins": {map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "udp"},
			`OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="udp"`},
		"unknown sampler": {map[string]string{"OTEL_TRACES_EXPORTER": "console", "OTEL_TRACES_SAMPLER": "sometimes"},
			`OTEL_TRACES_SAMPLER="sometimes": want one of always_on`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := tracing.Setup(context.Background(), tracing.Options{Service: "epcflow-test", Getenv: envOf(tc.env)})
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err := tracing.Setup(context.Background(), tracing.Options{})
	require.ErrorContains(t, err, "Service is required")
}

func TestConsoleExporterWritesSpans(t *testing.T) {
	var out bytes.Buffer
	tr, err := tracing.Setup(context.Background(), tracing.Options{
		Service: "epcflow-test", Getenv: envOf(map[string]string{"OTEL_TRACES_EXPORTER": "console"}), Console: &out,
	})
	require.NoError(t, err)
	require.Equal(t, []string{"console"}, tr.Exporters)
	_, span := tr.Provider().Tracer("test").Start(context.Background(), "console-span")
	span.End()
	require.NoError(t, tr.Shutdown(context.Background()))
	require.Contains(t, out.String(), `"Name":"console-span"`)
	require.Contains(t, out.String(), `"Value":"epcflow-test"`, "service.name")
}

// collector records what an OTLP receiver got.
type collector struct {
	mu   sync.Mutex
	reqs []*collectortrace.ExportTraceServiceRequest
	got  chan struct{}
}

func newCollector() *collector { return &collector{got: make(chan struct{}, 16)} }

func (c *collector) add(r *collectortrace.ExportTraceServiceRequest) {
	c.mu.Lock()
	c.reqs = append(c.reqs, r)
	c.mu.Unlock()
	c.got <- struct{}{}
}

// span waits for the first export and returns its first span's name and service.name.
func (c *collector) span(t *testing.T) (name, service string) {
	t.Helper()
	select {
	case <-c.got:
	case <-time.After(10 * time.Second):
		t.Fatal("the collector received no export")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	rs := c.reqs[0].ResourceSpans[0]
	for _, a := range rs.Resource.Attributes {
		if a.Key == "service.name" {
			service = a.Value.GetStringValue()
		}
	}
	return rs.ScopeSpans[0].Spans[0].Name, service
}

func exportOne(t *testing.T, getenv map[string]string, wantExporter string) {
	t.Helper()
	tr, err := tracing.Setup(context.Background(), tracing.Options{Service: "epcflow-test", Getenv: envOf(getenv)})
	require.NoError(t, err)
	require.Equal(t, []string{wantExporter}, tr.Exporters)
	_, span := tr.Provider().Tracer("test").Start(context.Background(), "exported-span")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, tr.Shutdown(ctx)) // flushes
}

// The endpoint alone turns tracing on, over http/protobuf (the specification's default), to
// <endpoint>/v1/traces; OTEL_SERVICE_NAME names the service.
func TestOTLPOverHTTPByDefault(t *testing.T) {
	col := newCollector()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "unexpected "+r.URL.Path, http.StatusNotFound)
			return
		}
		b, _ := io.ReadAll(r.Body)
		var req collectortrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		col.add(&req)
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		_, _ = w.Write(out)
	}))
	defer srv.Close()
	// The exporter reads its endpoint from the process environment.
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_SERVICE_NAME", "epcflow-api-eu")
	exportOne(t, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL}, "otlp (http/protobuf)")
	name, service := col.span(t)
	require.Equal(t, "exported-span", name)
	require.Equal(t, "epcflow-api-eu", service)
}

type grpcReceiver struct {
	collectortrace.UnimplementedTraceServiceServer
	col *collector
}

func (g grpcReceiver) Export(_ context.Context, r *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	g.col.add(r)
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func TestOTLPOverGRPC(t *testing.T) {
	col := newCollector()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(srv, grpcReceiver{col: col})
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()
	endpoint := "http://" + ln.Addr().String() // http: without TLS
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint)
	t.Setenv("OTEL_SERVICE_NAME", "")
	exportOne(t, map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}, "otlp (grpc)")
	name, service := col.span(t)
	require.Equal(t, "exported-span", name)
	require.Equal(t, "epcflow-test", service, "the default service name")
}
