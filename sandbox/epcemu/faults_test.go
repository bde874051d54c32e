package sandbox

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/epcflow/epcflow/epc"
)

func (e *env) putFaults(cfg any) {
	e.t.Helper()
	if rep := e.do(http.MethodPut, "/sandbox/faults", cfg); rep.status != http.StatusOK {
		e.t.Fatalf("put faults: %d %s", rep.status, rep.body)
	}
}

func TestFaultStatusRules(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.order(nil)
	patch := &epc.Response{Status: epc.StatusProcessing}

	e.putFaults(map[string]any{"rules": []any{
		map[string]any{"route": routePatchResponse, "errorRate": 1, "status": 503},
	}})
	if rep := e.do(http.MethodGet, "/sandbox/faults", nil); !strings.Contains(string(rep.body), `"errorRate":1,"status":503`) {
		t.Errorf("GET faults = %s", rep.body)
	}
	err := e.client.PatchResponse(ctx, id, patch)
	if epc.StatusOf(err) != http.StatusServiceUnavailable || !epc.IsRetryable(err) {
		t.Errorf("PATCH under a 100%% 503 rule = %v", err)
	}
	if _, err := e.client.GetTransaction(ctx, id); err != nil {
		t.Errorf("other routes are untouched: %v", err)
	}
	v := e.control(id)
	if len(v.ResponseHistory) != 0 {
		t.Errorf("a faulted PATCH reached the API")
	}
	last := v.PartnerCalls[len(v.PartnerCalls)-2] // the PATCH, before the GET
	if last.Method != http.MethodPatch || last.Status != 503 || last.Fault != "status 503" {
		t.Errorf("call log entry = %+v", last)
	}

	e.putFaults(map[string]any{"rules": []any{
		map[string]any{"route": "/partner/v2/transactions/{id}/response", "status": 429, "retryAfter": "2s"},
	}})
	rep := e.partner(http.MethodPatch, "/partner/v2/transactions/"+id+"/response", patch)
	if rep.status != http.StatusTooManyRequests || rep.header.Get("Retry-After") != "2" {
		t.Errorf("429 rule: %d Retry-After %q", rep.status, rep.header.Get("Retry-After"))
	}
	err = e.client.PatchResponse(ctx, id, patch)
	if epc.StatusOf(err) != http.StatusTooManyRequests || epc.RetryAfter(err) != 2*time.Second {
		t.Errorf("client sees %v (retry after %s)", err, epc.RetryAfter(err))
	}

	if rep := e.do(http.MethodDelete, "/sandbox/faults", nil); rep.status != http.StatusNoContent {
		t.Fatalf("delete faults: %d", rep.status)
	}
	if err := e.client.PatchResponse(ctx, id, patch); err != nil {
		t.Errorf("after DELETE /sandbox/faults: %v", err)
	}
	if rep := e.do(http.MethodGet, "/sandbox/faults", nil); string(rep.body) != "{\"rules\":[]}\n" {
		t.Errorf("GET after DELETE = %s", rep.body)
	}
}

func TestFaultOutageWindow(t *testing.T) {
	e := newEnv(t)
	id := e.order(nil)
	e.putFaults(map[string]any{"rules": []any{
		map[string]any{"route": "*", "outage": map[string]any{"after": "1s", "duration": "10s"}},
	}})
	tok := e.token() // the token route is not touched by "*"
	get := func() int {
		return e.do(http.MethodGet, "/partner/v2/transactions/"+id, nil, "Authorization", "Bearer "+tok).status
	}
	steps := []struct {
		advance time.Duration
		want    int
	}{
		{0, 200},
		{time.Second, 503},
		{9 * time.Second, 503},
		{time.Second, 200},
	}
	for i, s := range steps {
		e.clock.Advance(s.advance)
		if got := get(); got != s.want {
			t.Errorf("step %d: status %d, want %d", i, got, s.want)
		}
	}
	// Control routes are outside "*".
	if rep := e.do(http.MethodGet, "/sandbox/epc/transactions/"+id, nil); rep.status != 200 {
		t.Errorf("control route faulted: %d", rep.status)
	}
}

func TestFaultsAreDeterministic(t *testing.T) {
	e := newEnv(t)
	id := e.order(nil)
	tok := e.token()
	cfg := map[string]any{"seed": 7, "rules": []any{
		map[string]any{"route": routeGetTransaction, "errorRate": 0.5, "status": 502},
	}}
	run := func() []int {
		e.putFaults(cfg)
		var out []int
		for range 40 {
			out = append(out, e.do(http.MethodGet, "/partner/v2/transactions/"+id, nil, "Authorization", "Bearer "+tok).status)
		}
		return out
	}
	first, second := run(), run()
	if !slices.Equal(first, second) {
		t.Errorf("same seed, different outcomes:\n%v\n%v", first, second)
	}
	if !slices.Contains(first, 200) || !slices.Contains(first, 502) {
		t.Errorf("a 50%% rule gave %v", first)
	}
	cfg["seed"] = 8
	if third := run(); slices.Equal(first, third) {
		t.Errorf("another seed gave the same 40 outcomes")
	}
}

func TestFaultDropConnectionAndAfterPhase(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.order(nil)

	e.putFaults(map[string]any{"rules": []any{map[string]any{"route": routeGetTransaction, "dropConnection": true}}})
	_, err := e.client.GetTransaction(ctx, id)
	if err == nil || epc.StatusOf(err) != 0 || !epc.IsRetryable(err) {
		t.Errorf("dropped connection = %v, want a retryable network error", err)
	}
	calls := e.control(id).PartnerCalls
	if last := calls[len(calls)-1]; last.Fault != "dropConnection" || last.Status != 0 {
		t.Errorf("call log entry = %+v", last)
	}

	// Phase "after": the PATCH is applied, but the partner sees a 503.
	e.putFaults(map[string]any{"rules": []any{map[string]any{"route": routePatchResponse, "status": 503, "phase": "after"}}})
	err = e.client.PatchResponse(ctx, id, &epc.Response{Status: epc.StatusProcessing})
	if epc.StatusOf(err) != 503 {
		t.Errorf("after-phase fault = %v", err)
	}
	if n := len(e.control(id).ResponseHistory); n != 1 {
		t.Errorf("responseHistory = %d entries, want the PATCH applied once", n)
	}
}

func TestFaultLatencyAndExplicitControlRoute(t *testing.T) {
	e := newEnv(t)
	id := e.order(nil)
	e.putFaults(map[string]any{"rules": []any{
		map[string]any{"route": "*", "latency": "30ms"},
		map[string]any{"route": routeCreateTx, "status": 500},
	}})
	start := time.Now()
	if rep := e.partner(http.MethodGet, "/partner/v2/transactions/"+id, nil); rep.status != 200 {
		t.Fatalf("GET: %d", rep.status)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("GET took %s, want at least the 30ms latency", d)
	}
	if rep := e.do(http.MethodPost, "/sandbox/epc/transactions", map[string]any{"request": map[string]any{"type": "Appraisal"}}); rep.status != 500 {
		t.Errorf("a rule naming a control route applies to it: got %d", rep.status)
	}
}

func TestFaultConfigValidation(t *testing.T) {
	e := newEnv(t)
	rep := e.do(http.MethodPut, "/sandbox/faults", map[string]any{"rules": []any{
		map[string]any{"route": "GET /nowhere", "errorRate": 1.5},
		map[string]any{"route": "*", "outage": map[string]any{"start": "yesterday"}},
		map[string]any{"route": "*"},
		map[string]any{"route": "*", "status": 503, "dropConnection": true, "latency": "fast", "color": "red"},
		map[string]any{"route": "DELETE /sandbox/faults", "status": 503},
	}})
	if rep.status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", rep.status)
	}
	wantPointers(t, rep.apiErr(t),
		"/rules/0/route", "/rules/0/errorRate",
		"/rules/1/outage/start", "/rules/1/outage/duration",
		"/rules/2",
		"/rules/3/status", "/rules/3/latency", "/rules/3/color",
		"/rules/4/route",
	)
	if rep := e.do(http.MethodGet, "/sandbox/faults", nil); string(rep.body) != "{\"rules\":[]}\n" {
		t.Errorf("a rejected config was applied: %s", rep.body)
	}
}
