// Package metrics is epcflow's Prometheus registry: Go and process metrics, HTTP metrics for
// Gin, and the Temporal Go SDK's own metrics (through the SDK's OpenTelemetry contrib handler).
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/client"
)

// Registry holds every metric a process exports. Create one per process with New and share it
// (API, worker, Temporal client); its methods are safe for concurrent use.
type Registry struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	temporal client.MetricsHandler
}

// New returns a Registry with the Go runtime and process collectors, the HTTP metrics used by
// GinMiddleware and the collector behind TemporalHandler. Like prometheus.MustRegister, it
// panics if a collector cannot register, which a fresh registry never refuses.
func New() *Registry {
	r := &Registry{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests answered, by method, route template and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by method and route template.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"}),
	}
	r.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		r.requests, r.duration,
	)
	h, err := newTemporalHandler(r.reg)
	if err != nil {
		panic(err)
	}
	r.temporal = h
	return r
}

// Prometheus returns the underlying registry, for packages that add collectors of their own.
func (r *Registry) Prometheus() *prometheus.Registry { return r.reg }

// Handler serves the registry in the Prometheus exposition formats. A collector that fails
// does not fail the whole scrape: the other metrics are still served.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      r.reg, // promhttp_metric_handler_errors_total
	})
}

// UnmatchedRoute is the route label of requests no route matched (404 and 405), so that
// scanners probing random paths cannot blow up the label cardinality.
const UnmatchedRoute = "unmatched"

// GinMiddleware counts requests (http_requests_total{method,route,code}) and times them
// (http_request_duration_seconds{method,route}). The route is the template (c.FullPath(),
// e.g. /v1/transactions/:id), never the raw path.
func (r *Registry) GinMiddleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = UnmatchedRoute
		}
		method := methodLabel(c.Request.Method)
		r.requests.WithLabelValues(method, route, strconv.Itoa(c.Writer.Status())).Inc()
		r.duration.WithLabelValues(method, route).Observe(time.Since(start).Seconds())
	}
}

// methodLabel bounds the method label to the standard methods.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// TemporalHandler returns a client.MetricsHandler to pass as client.Options.MetricsHandler:
// the Temporal Go SDK then reports its own metrics through it, and they are served with the
// rest of this registry. They cover the client's requests to the server
// (temporal_request, temporal_request_latency, temporal_long_request…), worker polling
// (temporal_workflow_task_queue_poll_succeed, temporal_activity_poll_no_task,
// temporal_num_pollers, task slots), task latencies (temporal_workflow_task_schedule_to_start_latency,
// temporal_activity_execution_latency…) and workflow/activity outcome counters
// (temporal_workflow_completed, temporal_workflow_failed, temporal_activity_execution_failed…).
//
// Names keep the SDK's spelling (so Temporal's published SDK dashboards apply): counters are
// Prometheus counters and gauges gauges under the SDK's name, and timers histograms in
// seconds under theirs (no _total or _seconds suffix added), labelled with the SDK's tags.
// Every call returns the same handler.
func (r *Registry) TemporalHandler() client.MetricsHandler {
	return r.temporal
}
