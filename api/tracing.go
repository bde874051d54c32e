package api

import (
	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/contrib/instrumentation/github.com/gin-gonic/gin/otelgin"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// serverSpans makes each request a server span named by its route ("POST /webhooks/epc"),
// the root of its trace: the webhook's span is where an order's trace begins, and the
// SignalWithStart below carries it into the workflow.
//
// The API faces the internet (ICE, Inbank, browsers): trace context sent by a caller is not
// read, so nobody outside can join our traces, pick their ids or force sampling. The span
// records what otelgin does by default (method, route, path without the query, status,
// server and client address, user agent), never a header or a body. Probes and scrapes make
// no span.
func serverSpans(tp trace.TracerProvider) gin.HandlerFunc {
	return otelgin.Middleware("epcflow-api",
		otelgin.WithTracerProvider(tp),
		otelgin.WithPropagators(propagation.NewCompositeTextMapPropagator()), // reads nothing
		otelgin.WithMeterProvider(metricnoop.NewMeterProvider()),             // /metrics has ours
		otelgin.WithGinFilter(func(c *gin.Context) bool {
			switch c.FullPath() {
			case "/healthz", "/readyz", "/metrics":
				return false
			}
			return true
		}),
	)
}
