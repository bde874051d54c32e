package epcemu

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/sandbox/internal/sbtest"
)

func (e *env) putFaults(cfg any) {
	e.T.Helper()
	if rep := e.Do(http.MethodPut, "/sandbox/faults", cfg); rep.Status != http.StatusOK {
		e.T.Fatalf("put faults: %d %s", rep.Status, rep.Body)
	}
}

func TestFaultStatusRules(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.Order(nil)
	patch := &epc.Response{Status: epc.StatusProcessing}

	e.putFaults(map[string]any{"rules": []any{
		map[string]any{"route": RoutePatchResponse, "errorRate": 1, "status": 503},
	}})
	if rep := e.Do(http.MethodGet, "/sandbox/faults", nil); !strings.Contains(string(rep.Body), `"errorRate":1,"status":503`) {
		t.Errorf("GET faults = %s", rep.Body)
	}
	err := e.Client.PatchResponse(ctx, id, patch)
	if epc.StatusOf(err) != http.StatusServiceUnavailable || !epc.IsRetryable(err) {
		t.Errorf("PATCH under a 100%% 503 rule = %v", err)
	}
	if _, err := e.Client.GetTransaction(ctx, id); err != nil {
		t.Errorf("other routes are untouched: %v", err)
	}
	v := e.Control(id)
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
	rep := e.Partner(http.MethodPatch, "/partner/v2/transactions/"+id+"/response", patch)
	if rep.Status != http.StatusTooManyRequests || rep.Header.Get("Retry-After") != "2" {
		t.Errorf("429 rule: %d Retry-After %q", rep.Status, rep.Header.Get("Retry-After"))
	}
	err = e.Client.PatchResponse(ctx, id, patch)
	if epc.StatusOf(err) != http.StatusTooManyRequests || epc.RetryAfter(err) != 2*time.Second {
		t.Errorf("client sees %v (retry after %s)", err, epc.RetryAfter(err))
	}

	if rep := e.Do(http.MethodDelete, "/sandbox/faults", nil); rep.Status != http.StatusNoContent {
		t.Fatalf("delete faults: %d", rep.Status)
	}
	if err := e.Client.PatchResponse(ctx, id, patch); err != nil {
		t.Errorf("after DELETE /sandbox/faults: %v", err)
	}
	if rep := e.Do(http.MethodGet, "/sandbox/faults", nil); string(rep.Body) != "{\"rules\":[]}\n" {
		t.Errorf("GET after DELETE = %s", rep.Body)
	}
}

func TestFaultOutageWindow(t *testing.T) {
	e := newEnv(t)
	id := e.Order(nil)
	e.putFaults(map[string]any{"rules": []any{
		map[string]any{"route": "*", "outage": map[string]any{"after": "1s", "duration": "10s"}},
	}})
	tok := e.Token() // the token route is not touched by "*"
	get := func() int {
		return e.Do(http.MethodGet, "/partner/v2/transactions/"+id, nil, "Authorization", "Bearer "+tok).Status
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
		e.Clock.Advance(s.advance)
		if got := get(); got != s.want {
			t.Errorf("step %d: status %d, want %d", i, got, s.want)
		}
	}
	// Control routes are outside "*".
	if rep := e.Do(http.MethodGet, "/sandbox/epc/transactions/"+id, nil); rep.Status != 200 {
		t.Errorf("control route faulted: %d", rep.Status)
	}
}

func TestFaultsAreDeterministic(t *testing.T) {
	e := newEnv(t)
	id := e.Order(nil)
	tok := e.Token()
	cfg := map[string]any{"seed": 7, "rules": []any{
		map[string]any{"route": RouteGetTransaction, "errorRate": 0.5, "status": 502},
	}}
	run := func() []int {
		e.putFaults(cfg)
		var out []int
		for range 40 {
			out = append(out, e.Do(http.MethodGet, "/partner/v2/transactions/"+id, nil, "Authorization", "Bearer "+tok).Status)
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
	id := e.Order(nil)

	e.putFaults(map[string]any{"rules": []any{map[string]any{"route": RouteGetTransaction, "dropConnection": true}}})
	_, err := e.Client.GetTransaction(ctx, id)
	if err == nil || epc.StatusOf(err) != 0 || !epc.IsRetryable(err) {
		t.Errorf("dropped connection = %v, want a retryable network error", err)
	}
	calls := e.Control(id).PartnerCalls
	if last := calls[len(calls)-1]; last.Fault != "dropConnection" || last.Status != 0 {
		t.Errorf("call log entry = %+v", last)
	}

	// Phase "after": the PATCH is applied, but the partner sees a 503.
	e.putFaults(map[string]any{"rules": []any{map[string]any{"route": RoutePatchResponse, "status": 503, "phase": "after"}}})
	err = e.Client.PatchResponse(ctx, id, &epc.Response{Status: epc.StatusProcessing})
	if epc.StatusOf(err) != 503 {
		t.Errorf("after-phase fault = %v", err)
	}
	if n := len(e.Control(id).ResponseHistory); n != 1 {
		t.Errorf("responseHistory = %d entries, want the PATCH applied once", n)
	}
}

func TestFaultLatencyAndExplicitControlRoute(t *testing.T) {
	e := newEnv(t)
	id := e.Order(nil)
	e.putFaults(map[string]any{"rules": []any{
		map[string]any{"route": "*", "latency": "30ms"},
		map[string]any{"route": RouteCreateTx, "status": 500},
	}})
	start := time.Now()
	if rep := e.Partner(http.MethodGet, "/partner/v2/transactions/"+id, nil); rep.Status != 200 {
		t.Fatalf("GET: %d", rep.Status)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("GET took %s, want at least the 30ms latency", d)
	}
	if rep := e.Do(http.MethodPost, "/sandbox/epc/transactions", map[string]any{"request": map[string]any{"type": "Appraisal"}}); rep.Status != 500 {
		t.Errorf("a rule naming a control route applies to it: got %d", rep.Status)
	}
}

func TestFaultConfigValidation(t *testing.T) {
	e := newEnv(t)
	rep := e.Do(http.MethodPut, "/sandbox/faults", map[string]any{"rules": []any{
		map[string]any{"route": "GET /nowhere", "errorRate": 1.5},
		map[string]any{"route": "*", "outage": map[string]any{"start": "yesterday"}},
		map[string]any{"route": "*"},
		map[string]any{"route": "*", "status": 503, "dropConnection": true, "latency": "fast", "color": "red"},
		map[string]any{"route": "DELETE /sandbox/faults", "status": 503},
	}})
	if rep.Status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", rep.Status)
	}
	sbtest.WantPointers(t, rep.Err(t),
		"/rules/0/route", "/rules/0/errorRate",
		"/rules/1/outage/start", "/rules/1/outage/duration",
		"/rules/2",
		"/rules/3/status", "/rules/3/latency", "/rules/3/color",
		"/rules/4/route",
	)
	if rep := e.Do(http.MethodGet, "/sandbox/faults", nil); string(rep.Body) != "{\"rules\":[]}\n" {
		t.Errorf("a rejected config was applied: %s", rep.Body)
	}
}
