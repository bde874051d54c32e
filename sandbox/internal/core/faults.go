package core

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/epcflow/epcflow/internal/wait"
)

// FaultConfig is the body of PUT /sandbox/faults.
type FaultConfig struct {
	// Seed makes the random draws repeatable; nil means the sandbox's seed. Every PUT restarts
	// the sequence, so the same config and the same requests give the same outcomes.
	Seed  *int64      `json:"seed,omitempty"`
	Rules []FaultRule `json:"rules"`
}

// FaultRule injects faults on one route ("*" means every platform API route: Partner API,
// media, POS sessions; token, page and control routes are touched only by rules that name
// them). The route is a pattern as the sandbox registers it,
// "PATCH /partner/v2/transactions/{id}/response", or its path alone for every method.
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
func (r *FaultRule) applies(pattern string, kind RouteKind) bool {
	if r.Route == "*" {
		return kind == RoutePlatform
	}
	if r.Route == pattern {
		return true
	}
	_, path, _ := strings.Cut(pattern, " ")
	return r.Route == path
}

// fired is a decided fault.
type fired struct {
	rule int
	r    *FaultRule
}

// wrap runs h behind the fault rules that apply to pattern.
func (f *faultInjector) wrap(pattern string, kind RouteKind, h http.Handler) http.Handler {
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
				fault = &fired{rule: i, r: rule}
			}
		}
		if fault == nil {
			h.ServeHTTP(w, r)
			return
		}
		if fault.r.Phase == phaseAfter {
			// Do the work, throw the reply away.
			h.ServeHTTP(&discardWriter{header: http.Header{}}, r)
		}
		inject(w, pattern, fault)
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

func inject(w http.ResponseWriter, pattern string, ft *fired) {
	if ft.r.DropConnection {
		setFault(w, "dropConnection")
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
	setFault(w, "status "+strconv.Itoa(status))
	e := Errorf(status, CodeFault, "sandbox fault: injected %d on %s (rule %d)", status, pattern, ft.rule)
	if retryAfter > 0 {
		secs := int((retryAfter + time.Second - 1) / time.Second)
		e.Header = http.Header{"Retry-After": {strconv.Itoa(secs)}}
	}
	WriteError(w, e)
}

func sleep(ctx context.Context, d time.Duration) bool { return wait.For(ctx, d) == nil }

// discardWriter swallows a reply (phase "after").
type discardWriter struct {
	header http.Header
	buf    bytes.Buffer
}

func (d *discardWriter) Header() http.Header         { return d.header }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Write(b []byte) (int, error) { return d.buf.Write(b) }
