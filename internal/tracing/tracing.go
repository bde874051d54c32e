// Package tracing sets up OpenTelemetry tracing for one epcflow process from the standard
// OTEL_* environment variables. It is the one place that links the exporters; the parts are
// instrumented by internal/traced with the provider Setup returns.
//
// Tracing is off unless configured: with none of OTEL_TRACES_EXPORTER,
// OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set (or with
// OTEL_SDK_DISABLED=true, or OTEL_TRACES_EXPORTER=none) Setup returns no provider and the
// process runs no tracing code. Unlike the specification's default of otlp, an unset
// OTEL_TRACES_EXPORTER alone does not turn it on: a process should not try to reach a
// collector nobody asked for.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
)

// Options configure Setup.
type Options struct {
	// Service is service.name unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES names one.
	Service string
	// Getenv reads the variables that decide whether and how to trace; nil means os.Getenv.
	// The exporters read the rest of theirs (endpoint, headers, timeout, TLS) from the
	// process environment.
	Getenv func(string) string
	// Logger receives export failures (a collector that cannot be reached); nil discards.
	Logger *slog.Logger
	// Console is where OTEL_TRACES_EXPORTER=console writes spans; nil means standard output.
	Console io.Writer
}

// Tracing is a process's tracing: a provider exporting spans, or nothing when tracing is off.
type Tracing struct {
	provider *sdktrace.TracerProvider
	// Exporters names what spans go to, for a start-up line ("otlp (http/protobuf)").
	Exporters []string
}

// Provider is the tracer provider to hand to internal/traced; nil when tracing is off.
func (t *Tracing) Provider() trace.TracerProvider {
	if t == nil || t.provider == nil {
		return nil
	}
	return t.provider
}

// Shutdown sends the spans still buffered and stops exporting. Call it once, at exit.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil || t.provider == nil {
		return nil
	}
	return t.provider.Shutdown(ctx)
}

// Setup reads the OTEL_* environment and, when tracing is configured, builds a provider that
// samples as OTEL_TRACES_SAMPLER says (default: parentbased_always_on), batches as OTEL_BSP_*
// say and exports to each exporter OTEL_TRACES_EXPORTER names: otlp (the default once an
// OTLP endpoint is set), over OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or
// OTEL_EXPORTER_OTLP_PROTOCOL (http/protobuf, the default, or grpc), or console. It returns
// an error naming the variable for a value it cannot honour.
func Setup(ctx context.Context, o Options) (*Tracing, error) {
	if o.Service == "" {
		return nil, errors.New("tracing: Options.Service is required")
	}
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	names, err := exporterNames(getenv)
	if err != nil || len(names) == 0 {
		return &Tracing{}, err
	}
	// The SDK reads the sampler itself but falls back to its default on a value it does not
	// know: refuse it instead.
	if s, known := getenv("OTEL_TRACES_SAMPLER"), samplers(); s != "" && !slices.Contains(known, s) {
		return nil, fmt.Errorf("tracing: OTEL_TRACES_SAMPLER=%q: want one of %s", s, strings.Join(known, ", "))
	}
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithAttributes(semconv.ServiceName(o.Service)),
		resource.WithFromEnv(), // after the default: OTEL_SERVICE_NAME wins
	)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	t := &Tracing{}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	for _, name := range names {
		exp, desc, err := newExporter(ctx, name, getenv, o.Console)
		if err != nil {
			return nil, err
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
		t.Exporters = append(t.Exporters, desc)
	}
	t.provider = sdktrace.NewTracerProvider(opts...)
	if log := o.Logger; log != nil {
		// Export errors go to OpenTelemetry's global handler, which writes unstructured
		// lines to stderr: to our log instead, as warnings.
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("tracing: " + err.Error()) }))
	}
	return t, nil
}

// samplers are the OTEL_TRACES_SAMPLER values the SDK knows.
func samplers() []string {
	return []string{
		"always_on", "always_off", "traceidratio",
		"parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio",
	}
}

// exporterNames are the exporters the environment asks for; none when tracing is off.
func exporterNames(getenv func(string) string) ([]string, error) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return nil, nil
	}
	list := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER"))
	if list == "" {
		if getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
			return nil, nil
		}
		list = "otlp"
	}
	var names []string
	for _, n := range strings.Split(list, ",") {
		switch n = strings.TrimSpace(n); n {
		case "none":
			return nil, nil // "none" anywhere turns traces off, as the specification says
		case "otlp", "console":
			names = append(names, n)
		case "":
		default:
			return nil, fmt.Errorf("tracing: OTEL_TRACES_EXPORTER=%q: exporter %q is not in this build (want otlp, console or none)", list, n)
		}
	}
	return names, nil
}

// newExporter builds one exporter and says what it is.
func newExporter(ctx context.Context, name string, getenv func(string) string, console io.Writer) (sdktrace.SpanExporter, string, error) {
	if name == "console" {
		if console == nil {
			console = os.Stdout
		}
		exp, err := stdouttrace.New(stdouttrace.WithWriter(console))
		return exp, "console", err
	}
	variable, proto := "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"))
	if proto == "" {
		variable, proto = "OTEL_EXPORTER_OTLP_PROTOCOL", strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_PROTOCOL"))
	}
	var (
		exp sdktrace.SpanExporter
		err error
	)
	switch proto {
	case "", "http/protobuf":
		proto = "http/protobuf"
		exp, err = otlptracehttp.New(ctx)
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	default:
		return nil, "", fmt.Errorf("tracing: %s=%q: want http/protobuf or grpc (http/json is not in this build)", variable, proto)
	}
	if err != nil {
		// The exporters' errors name the setting, never a header value.
		return nil, "", fmt.Errorf("tracing: otlp exporter: %w", err)
	}
	return exp, "otlp (" + proto + ")", nil
}
