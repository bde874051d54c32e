package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FaultConfig is the body of PUT /sandbox/faults.
type FaultConfig struct {
	// Seed makes the random draws repeatable; nil means Config.Seed. Every PUT restarts the
	// sequence, so the same config and the same requests give the same outcomes.
	Seed  *int64      `json:"seed,omitempty"`
	Rules []FaultRule `json:"rules"`
}

// FaultRule injects faults on one route ("*" means every Partner API and media route; token
// and control routes are touched only by rules that name them). The route is a pattern as
// the sandbox registers it, "PATCH /partner/v2/transactions/{id}/response", or its path alone
// for every method.
//
// A matching request first waits Latency. The rule then fires during its Outage window, or
// with probability ErrorRate (default 1 when the rule has no outage), and answers Status
// (default 503; Retry-After set from RetryAfter, which defaults to 1s for a 429) or, with
// DropConnection, closes the connection without a reply. Phase "after" lets the API do its
// work first and only then replaces its reply: the change is made but the partner never
// hears so.
type FaultRule struct {
	Route          string       `json:"route"`
	ErrorRate      *float64     `json:"errorRate,omitempty"`
	Status         int          `json:"status,omitempty"`
	RetryAfter     *Duration    `json:"retryAfter,omitempty"`
	Latency        *Duration    `json:"latency,omitempty"`
	Outage         *FaultOutage `json:"outage,omitempty"`
	DropConnection bool         `json:"dropConnection,omitempty"`
	Phase          string       `json:"phase,omitempty"`
}

// FaultOutage is a window in which a rule always fires: from Start (or After past the PUT)
// for Duration. GET shows Start resolved.
type FaultOutage struct {
	Start    *time.Time `json:"start,omitempty"`
	After    *Duration  `json:"after,omitempty"`
	Duration Duration   `json:"duration"`
}

const (
	phaseBefore = "before"
	phaseAfter  = "after"
)

// faultInjector holds the active fault config and its seeded random source.
type faultInjector struct {
	seed int64
	now  func() time.Time

	active atomic.Pointer[FaultConfig] // nil: no faults

	mu  sync.Mutex // guards rng: draws happen in request order
	rng *rand.Rand
}

func newFaultInjector(seed int64, now func() time.Time) *faultInjector {
	return &faultInjector{seed: seed, now: now, rng: newRand(seed)}
}

func newRand(seed int64) *rand.Rand { return rand.New(rand.NewPCG(uint64(seed), 0xfa017)) }

func (f *faultInjector) set(cfg *FaultConfig) {
	seed := f.seed
	if cfg != nil && cfg.Seed != nil {
		seed = *cfg.Seed
	}
	f.mu.Lock()
	f.rng = newRand(seed)
	f.active.Store(cfg)
	f.mu.Unlock()
}

func (f *faultInjector) draw() float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rng.Float64()
}

// applies reports whether rule r covers the route pattern.
func (r *FaultRule) applies(pattern string, kind routeKind) bool {
	if r.Route == "*" {
		return kind == routePlatform
	}
	if r.Route == pattern {
		return true
	}
	_, path, _ := strings.Cut(pattern, " ")
	return r.Route == path
}

// fired is a decided fault.
type fired struct {
	rule  int
	r     *FaultRule
	phase string
}

// wrap runs h behind the fault rules that apply to pattern.
func (f *faultInjector) wrap(pattern string, kind routeKind, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cfg := f.active.Load()
		if cfg == nil {
			h.ServeHTTP(w, r)
			return
		}
		var fault *fired
		for i := range cfg.Rules {
			rule := &cfg.Rules[i]
			if !rule.applies(pattern, kind) {
				continue
			}
			if rule.Latency != nil && *rule.Latency > 0 {
				if !sleep(r.Context(), time.Duration(*rule.Latency)) {
					return // the caller went away
				}
			}
			if fault == nil && f.fires(rule) {
				fault = &fired{rule: i, r: rule, phase: rule.Phase}
			}
		}
		if fault == nil {
			h.ServeHTTP(w, r)
			return
		}
		if fault.phase == phaseAfter {
			// Do the work, throw the reply away.
			h.ServeHTTP(&discardWriter{header: http.Header{}}, r)
		}
		f.inject(w, r, pattern, fault)
	})
}

// fires decides whether rule fires for this request. A rule with a rate below 1 draws exactly
// once per matching request, so the outcomes depend only on the seed and the request order.
func (f *faultInjector) fires(rule *FaultRule) bool {
	inOutage := false
	if o := rule.Outage; o != nil && o.Start != nil {
		now := f.now()
		inOutage = !now.Before(*o.Start) && now.Before(o.Start.Add(time.Duration(o.Duration)))
	}
	rate := 0.0
	switch {
	case rule.ErrorRate != nil:
		rate = *rule.ErrorRate
	case rule.Outage == nil && (rule.Status != 0 || rule.DropConnection):
		rate = 1
	}
	if rate <= 0 {
		return inOutage
	}
	hit := rate >= 1 || f.draw() < rate
	return inOutage || hit
}

func (f *faultInjector) inject(w http.ResponseWriter, r *http.Request, pattern string, ft *fired) {
	sw, _ := w.(*statusWriter)
	if ft.r.DropConnection {
		if sw != nil {
			sw.fault = "dropConnection"
		}
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
			return
		}
		panic(http.ErrAbortHandler) // HTTP/2: reset the stream instead
	}
	status := ft.r.Status
	if status == 0 {
		status = http.StatusServiceUnavailable
	}
	retryAfter := time.Duration(0)
	if ft.r.RetryAfter != nil {
		retryAfter = time.Duration(*ft.r.RetryAfter)
	} else if status == http.StatusTooManyRequests {
		retryAfter = time.Second
	}
	if sw != nil {
		sw.fault = "status " + strconv.Itoa(status)
	}
	e := errorf(status, codeFault, "sandbox fault: injected %d on %s (rule %d)", status, pattern, ft.rule)
	if retryAfter > 0 {
		secs := int((retryAfter + time.Second - 1) / time.Second)
		e.header = http.Header{"Retry-After": {strconv.Itoa(secs)}}
	}
	writeError(w, e)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// discardWriter swallows a reply (phase "after").
type discardWriter struct {
	header http.Header
	buf    bytes.Buffer
}

func (d *discardWriter) Header() http.Header         { return d.header }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Write(b []byte) (int, error) { return d.buf.Write(b) }

// getFaults is GET /sandbox/faults.
func (s *Server) getFaults(w http.ResponseWriter, r *http.Request) error {
	cfg := s.faults.active.Load()
	if cfg == nil {
		cfg = &FaultConfig{Rules: []FaultRule{}}
	}
	writeJSON(w, http.StatusOK, cfg)
	return nil
}

// deleteFaults is DELETE /sandbox/faults: no more faults.
func (s *Server) deleteFaults(w http.ResponseWriter, r *http.Request) error {
	s.faults.set(nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// putFaults is PUT /sandbox/faults: replaces every rule and restarts the random sequence.
func (s *Server) putFaults(w http.ResponseWriter, r *http.Request) error {
	body, err := readJSON(r, false)
	if err != nil {
		return err
	}
	cfg, ps := s.parseFaults(body)
	if len(ps) > 0 {
		return invalid("invalid fault config", ps)
	}
	s.faults.set(cfg)
	s.log.Info("sandbox faults set", slog.Int("rules", len(cfg.Rules)))
	writeJSON(w, http.StatusOK, cfg)
	return nil
}

func (s *Server) parseFaults(body []byte) (*FaultConfig, problems) {
	var ps problems
	obj, ok := decodeObject(body, "", &ps)
	if !ok {
		return nil, ps
	}
	cfg := &FaultConfig{}
	var rules []json.RawMessage
	decodeFields(obj, "", &ps, map[string]any{"seed": &cfg.Seed, "rules": &rules})
	if _, ok := obj["rules"]; !ok {
		ps.add("/rules", "required (an empty array clears every rule)")
	}
	now := s.now()
	cfg.Rules = make([]FaultRule, 0, len(rules))
	for i, raw := range rules {
		ptr := pointer("/rules", i)
		ro, ok := decodeObject(raw, ptr, &ps)
		if !ok {
			continue
		}
		var rule FaultRule
		var outage json.RawMessage
		decodeFields(ro, ptr, &ps, map[string]any{
			"route": &rule.Route, "errorRate": &rule.ErrorRate, "status": &rule.Status,
			"retryAfter": &rule.RetryAfter, "latency": &rule.Latency, "outage": &outage,
			"dropConnection": &rule.DropConnection, "phase": &rule.Phase,
		})
		s.checkRoute(rule.Route, pointer(ptr, "route"), &ps)
		if rule.ErrorRate != nil && (*rule.ErrorRate < 0 || *rule.ErrorRate > 1) {
			ps.add(pointer(ptr, "errorRate"), "must be between 0 and 1")
		}
		if rule.Status != 0 && (rule.Status < 400 || rule.Status > 599) {
			ps.add(pointer(ptr, "status"), "must be an HTTP error status (400-599)")
		}
		if rule.Status != 0 && rule.DropConnection {
			ps.add(pointer(ptr, "status"), "a dropped connection has no status: set one or the other")
		}
		if rule.Latency != nil && time.Duration(*rule.Latency) > time.Minute {
			ps.add(pointer(ptr, "latency"), "must be at most 1m")
		}
		switch rule.Phase {
		case "", phaseBefore, phaseAfter:
		default:
			ps.add(pointer(ptr, "phase"), "must be %q or %q", phaseBefore, phaseAfter)
		}
		if outage != nil {
			rule.Outage = parseOutage(outage, pointer(ptr, "outage"), now, &ps)
		}
		if rule.ErrorRate == nil && rule.Status == 0 && rule.Latency == nil && rule.Outage == nil && !rule.DropConnection {
			ps.add(ptr, "injects nothing: set errorRate, status, latency, outage or dropConnection")
		}
		cfg.Rules = append(cfg.Rules, rule)
	}
	return cfg, ps
}

func parseOutage(raw json.RawMessage, ptr string, now time.Time, ps *problems) *FaultOutage {
	obj, ok := decodeObject(raw, ptr, ps)
	if !ok {
		return nil
	}
	var o FaultOutage
	var start *string
	decodeFields(obj, ptr, ps, map[string]any{"start": &start, "after": &o.After, "duration": &o.Duration})
	switch {
	case start != nil && o.After != nil:
		ps.add(ptr, "set start or after, not both")
	case start != nil:
		t, err := time.Parse(time.RFC3339, *start)
		if err != nil {
			ps.add(pointer(ptr, "start"), "must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
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
		ps.add(pointer(ptr, "duration"), "required: a positive duration such as \"10s\"")
	}
	return &o
}

// checkRoute accepts "*", a registered pattern, or the path of one.
func (s *Server) checkRoute(route, ptr string, ps *problems) {
	if route == "" {
		ps.add(ptr, "required: \"*\" or a route such as %q", routePatchResponse)
		return
	}
	if route == "*" {
		return
	}
	if _, path, _ := strings.Cut(route, " "); route == "/sandbox/faults" || path == "/sandbox/faults" {
		ps.add(ptr, "the fault routes themselves cannot be faulted (DELETE /sandbox/faults must always work)")
		return
	}
	for p := range s.routes {
		_, path, _ := strings.Cut(p, " ")
		if p == route || path == route {
			return
		}
	}
	ps.add(ptr, "unknown route %s; routes are %s", quoteShort(route), strings.Join(sortedKeys(s.routes), ", "))
}
