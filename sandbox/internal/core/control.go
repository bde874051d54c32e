package core

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Control routes shared by every emulator (no authentication: the sandbox is a local tool).
// Fault rules touch them only when they name them, and never the fault routes themselves.
const (
	RouteFaultsGet    = "GET /sandbox/faults"
	RouteFaultsPut    = "PUT /sandbox/faults"
	RouteFaultsDelete = "DELETE /sandbox/faults"
	RouteBehaviorGet  = "GET /sandbox/webhooks/behavior"
	RouteBehaviorPut  = "PUT /sandbox/webhooks/behavior"
)

// exampleRoute illustrates a route in messages.
const exampleRoute = "PATCH /partner/v2/transactions/{id}/response"

// MountControl registers the fault and webhook-behavior routes.
func (rt *Runtime) MountControl() {
	for pattern, h := range map[string]HandlerFunc{
		RouteFaultsGet:    rt.getFaults,
		RouteFaultsPut:    rt.putFaults,
		RouteFaultsDelete: rt.deleteFaults,
		RouteBehaviorGet:  rt.getWebhookBehavior,
		RouteBehaviorPut:  rt.putWebhookBehavior,
	} {
		rt.Handle(pattern, RouteExplicit, h, nil)
	}
}

// getFaults is GET /sandbox/faults.
func (rt *Runtime) getFaults(w http.ResponseWriter, r *http.Request) error {
	cfg := rt.faults.active.Load()
	if cfg == nil {
		cfg = &FaultConfig{Rules: []FaultRule{}}
	}
	WriteJSON(w, http.StatusOK, cfg)
	return nil
}

// deleteFaults is DELETE /sandbox/faults: no more faults.
func (rt *Runtime) deleteFaults(w http.ResponseWriter, r *http.Request) error {
	rt.faults.set(nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// putFaults is PUT /sandbox/faults: replaces every rule and restarts the random sequence.
func (rt *Runtime) putFaults(w http.ResponseWriter, r *http.Request) error {
	obj, err := ReadObject(r, false, "invalid fault config")
	if err != nil {
		return err
	}
	cfg, ps := rt.parseFaults(obj)
	if err := InvalidIf("invalid fault config", ps); err != nil {
		return err
	}
	rt.faults.set(cfg)
	rt.Log.Info("sandbox faults set", slog.Int("rules", len(cfg.Rules)))
	WriteJSON(w, http.StatusOK, cfg)
	return nil
}

func (rt *Runtime) parseFaults(obj map[string]json.RawMessage) (*FaultConfig, Problems) {
	var ps Problems
	cfg := &FaultConfig{}
	var rules []json.RawMessage
	DecodeFields(obj, "", &ps, map[string]any{"seed": &cfg.Seed, "rules": &rules})
	if _, ok := obj["rules"]; !ok {
		ps.Add("/rules", "required (an empty array clears every rule)")
	}
	now := rt.Now()
	cfg.Rules = make([]FaultRule, 0, len(rules))
	EachObject(rules, "/rules", &ps, func(ptr string, ro map[string]json.RawMessage) {
		cfg.Rules = append(cfg.Rules, rt.parseRule(ro, ptr, now, &ps))
	})
	return cfg, ps
}

func (rt *Runtime) parseRule(ro map[string]json.RawMessage, ptr string, now time.Time, ps *Problems) FaultRule {
	var rule FaultRule
	var outage json.RawMessage
	DecodeFields(ro, ptr, ps, map[string]any{
		"route": &rule.Route, "errorRate": &rule.ErrorRate, "status": &rule.Status,
		"retryAfter": &rule.RetryAfter, "latency": &rule.Latency, "outage": &outage,
		"dropConnection": &rule.DropConnection, "phase": &rule.Phase,
	})
	rt.checkRoute(rule.Route, Pointer(ptr, "route"), ps)
	if rule.ErrorRate != nil && (*rule.ErrorRate < 0 || *rule.ErrorRate > 1) {
		ps.Add(Pointer(ptr, "errorRate"), "must be between 0 and 1")
	}
	if rule.Status != 0 && (rule.Status < 400 || rule.Status > 599) {
		ps.Add(Pointer(ptr, "status"), "must be an HTTP error status (400-599)")
	}
	if rule.Status != 0 && rule.DropConnection {
		ps.Add(Pointer(ptr, "status"), "a dropped connection has no status: set one or the other")
	}
	if rule.Latency != nil && time.Duration(*rule.Latency) > time.Minute {
		ps.Add(Pointer(ptr, "latency"), "must be at most 1m")
	}
	switch rule.Phase {
	case "", phaseBefore, phaseAfter:
	default:
		ps.Add(Pointer(ptr, "phase"), "must be %q or %q", phaseBefore, phaseAfter)
	}
	if outage != nil {
		rule.Outage = parseOutage(outage, Pointer(ptr, "outage"), now, ps)
	}
	if rule.ErrorRate == nil && rule.Status == 0 && rule.Latency == nil && rule.Outage == nil && !rule.DropConnection {
		ps.Add(ptr, "injects nothing: set errorRate, status, latency, outage or dropConnection")
	}
	return rule
}

func parseOutage(raw json.RawMessage, ptr string, now time.Time, ps *Problems) *FaultOutage {
	obj, ok := DecodeObject(raw, ptr, ps)
	if !ok {
		return nil
	}
	var o FaultOutage
	var start *string
	DecodeFields(obj, ptr, ps, map[string]any{"start": &start, "after": &o.After, "duration": &o.Duration})
	switch {
	case start != nil && o.After != nil:
		ps.Add(ptr, "set start or after, not both")
	case start != nil:
		t, err := time.Parse(time.RFC3339, *start)
		if err != nil {
			ps.Add(Pointer(ptr, "start"), "must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
		} else {
			o.Start = &t
		}
	case o.After != nil:
		t := now.Add(time.Duration(*o.After))
		o.Start = &t
	default:
		t := now
		o.Start = &t
	}
	if o.Duration <= 0 {
		ps.Add(Pointer(ptr, "duration"), "required: a positive duration such as \"10s\"")
	}
	return &o
}

// checkRoute accepts "*", a registered pattern, or the path of one.
func (rt *Runtime) checkRoute(route, ptr string, ps *Problems) {
	if route == "" {
		ps.Add(ptr, "required: \"*\" or a route such as %q", exampleRoute)
		return
	}
	if route == "*" {
		return
	}
	if _, path, _ := strings.Cut(route, " "); route == "/sandbox/faults" || path == "/sandbox/faults" {
		ps.Add(ptr, "the fault routes themselves cannot be faulted (DELETE /sandbox/faults must always work)")
		return
	}
	for p := range rt.routes {
		_, path, _ := strings.Cut(p, " ")
		if p == route || path == route {
			return
		}
	}
	ps.Add(ptr, "unknown route %s; routes are %s", QuoteShort(route), strings.Join(SortedKeys(rt.routes), ", "))
}

// getWebhookBehavior is GET /sandbox/webhooks/behavior.
func (rt *Runtime) getWebhookBehavior(w http.ResponseWriter, r *http.Request) error {
	WriteJSON(w, http.StatusOK, rt.hooks.Behavior())
	return nil
}

// putWebhookBehavior is PUT /sandbox/webhooks/behavior.
func (rt *Runtime) putWebhookBehavior(w http.ResponseWriter, r *http.Request) error {
	obj, err := ReadObject(r, false, "invalid webhook behavior")
	if err != nil {
		return err
	}
	var ps Problems
	var b WebhookBehavior
	DecodeFields(obj, "", &ps, map[string]any{
		"copies": &b.Copies, "shuffle": &b.Shuffle, "delay": &b.Delay, "window": &b.Window, "firstOnly": &b.FirstOnly,
	})
	if b.Copies < 0 || b.Copies > 100 {
		ps.Add("/copies", "must be between 0 and 100")
	}
	if err := InvalidIf("invalid webhook behavior", ps); err != nil {
		return err
	}
	rt.hooks.SetBehavior(b)
	WriteJSON(w, http.StatusOK, b)
	return nil
}
