package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// scrape returns the registry's text exposition, failing on any non-200 answer.
func scrape(t *testing.T, r *Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: status %d: %s", rec.Code, rec.Body)
	}
	body, _ := io.ReadAll(rec.Body)
	return string(body)
}

func assertContains(t *testing.T, out string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(out, l) {
			t.Errorf("scrape output lacks %q", l)
		}
	}
	if t.Failed() {
		t.Logf("scrape output (temporal and http lines):\n%s", grepLines(out, "temporal_", "http_"))
	}
}

func grepLines(out string, prefixes ...string) string {
	var b strings.Builder
	for _, l := range strings.Split(out, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				b.WriteString(l + "\n")
			}
		}
	}
	return b.String()
}

func TestGinMiddlewareCountsRouteTemplates(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	reg := New()
	e := gin.New()
	e.Use(reg.GinMiddleware())
	e.GET("/v1/transactions/:id", func(c *gin.Context) { c.String(http.StatusOK, "ok") })
	srv := httptest.NewServer(e)
	defer srv.Close()

	for _, path := range []string{"/v1/transactions/a", "/v1/transactions/b", "/nope/1", "/nope/2"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	out := scrape(t, reg)
	assertContains(t, out,
		`http_requests_total{code="200",method="GET",route="/v1/transactions/:id"} 2`,
		`http_requests_total{code="404",method="GET",route="unmatched"} 2`,
		`http_request_duration_seconds_count{method="GET",route="/v1/transactions/:id"} 2`,
		"go_goroutines", // Go collector registered
	)
	if strings.Contains(out, "/v1/transactions/a") || strings.Contains(out, "/nope/1") {
		t.Error("a raw path leaked into the labels")
	}
}

func TestMethodLabelIsBounded(t *testing.T) {
	for in, want := range map[string]string{"GET": "GET", "POST": "POST", "BREW": "OTHER", "get": "OTHER"} {
		if got := methodLabel(in); got != want {
			t.Errorf("methodLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTemporalHandlerRecordsCounterGaugeTimer(t *testing.T) {
	reg := New()
	h := reg.TemporalHandler().WithTags(map[string]string{"namespace": "default", "task_queue": "epcflow"})
	h.Counter("temporal_workflow_completed").Inc(2)
	h.Counter("temporal_workflow_completed").Inc(1) // same series again
	h.Gauge("temporal_num_pollers").Update(3)
	h.Gauge("temporal_num_pollers").Update(2.5)
	tm := h.WithTags(map[string]string{"activity_type": "Acknowledge"}).Timer("temporal_activity_execution_latency")
	tm.Record(20 * time.Millisecond)
	tm.Record(3 * time.Second)

	out := scrape(t, reg)
	assertContains(t, out,
		"# TYPE temporal_workflow_completed counter",
		`temporal_workflow_completed{namespace="default",task_queue="epcflow"} 3`,
		"# TYPE temporal_num_pollers gauge",
		`temporal_num_pollers{namespace="default",task_queue="epcflow"} 2.5`,
		"# TYPE temporal_activity_execution_latency histogram",
		`temporal_activity_execution_latency_bucket{activity_type="Acknowledge",namespace="default",task_queue="epcflow",le="0.025"} 1`,
		`temporal_activity_execution_latency_bucket{activity_type="Acknowledge",namespace="default",task_queue="epcflow",le="5"} 2`,
		`temporal_activity_execution_latency_count{activity_type="Acknowledge",namespace="default",task_queue="epcflow"} 2`,
		`temporal_activity_execution_latency_sum{activity_type="Acknowledge",namespace="default",task_queue="epcflow"} 3.02`,
	)
	// The exporter's own conventions would rename and relabel what the chaos suite, the
	// dashboards and the README read; they are turned off.
	for _, unwanted := range []string{"temporal_workflow_completed_total", "_seconds_bucket", "otel_scope", "target_info", `le="7500"`} {
		if strings.Contains(out, unwanted) {
			t.Errorf("scrape output contains %q", unwanted)
		}
	}
}

func TestTemporalHandlerSameNameDifferentTagSets(t *testing.T) {
	reg := New()
	root := reg.TemporalHandler()
	root.Counter("temporal_request").Inc(1)
	root.WithTags(map[string]string{"operation": "PollWorkflowTaskQueue"}).Counter("temporal_request").Inc(2)
	root.WithTags(map[string]string{"operation": "StartWorkflowExecution", "namespace": "default"}).Counter("temporal_request").Inc(4)
	// A later tag overrides an earlier one of the same name.
	root.WithTags(map[string]string{"operation": "A"}).WithTags(map[string]string{"operation": "B"}).Counter("temporal_request").Inc(100)

	assertContains(t, scrape(t, reg),
		"temporal_request 1",
		`temporal_request{operation="PollWorkflowTaskQueue"} 2`,
		`temporal_request{namespace="default",operation="StartWorkflowExecution"} 4`,
		`temporal_request{operation="B"} 100`,
	)
}

func TestTemporalHandlerRefusedNamesAreCounted(t *testing.T) {
	reg := New()
	reg.TemporalHandler().Counter("9 not a name").Inc(1) // the contrib handler's default would panic
	assertContains(t, scrape(t, reg), "epcflow_temporal_metric_errors_total 1")
}

func TestTemporalHandlerConcurrentUse(t *testing.T) {
	reg := New()
	root := reg.TemporalHandler()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				tags := map[string]string{"operation": []string{"a", "b", "c"}[i%3]}
				if g%2 == 0 {
					tags["namespace"] = "default"
				}
				h := root.WithTags(tags)
				h.Counter("temporal_request").Inc(1)
				h.Timer("temporal_request_latency").Record(time.Millisecond)
				h.Gauge("temporal_num_pollers").Update(float64(i))
			}
		}()
	}
	// Scrapes race with the writers.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 20; i++ {
			scrape(t, reg)
		}
	}()
	wg.Wait()
	<-done

	out := scrape(t, reg)
	// 4 goroutines with a namespace and 4 without, each 200 records split 67/67/66 over a/b/c.
	assertContains(t, out,
		`temporal_request{namespace="default",operation="a"} 268`,
		`temporal_request{operation="a"} 268`,
		`temporal_request_latency_count{namespace="default",operation="c"} 264`,
	)
}
