package bench

import (
	"context"
	"fmt"
	"math"
	"time"
)

// The highest sustainable rate: the highest offered rate at which end-to-end p99 stays under
// sustainableP99. The saturated run (the configured rate) is the first trial; the next is
// what it completed per second. Then, while only the saturated rate has failed, the rate
// doubles from the highest that held (a saturated run can complete less than the machine
// sustains: its 503s make webhooks wait for their retries); after that, rates are bisected
// between the highest that held and the lowest that did not, until they are within
// searchPrecision of each other, maxSearchTrials ran, or the time budget is spent.
const (
	sustainableP99Ms = 2000.0
	searchPrecision  = 1.15 // stop when the lowest failing rate / the highest holding rate <= this
	maxSearchTrials  = 5
	// trialSeconds of offered load per trial, within [minTrialOrders, Config.Orders] orders.
	trialSeconds   = 15.0
	minTrialOrders = 40
	rateStep       = 0.5 // trial rates are multiples of this (orders/s)
)

// Sustainable is the result of the rate search.
type Sustainable struct {
	// Rate is the highest offered rate that held (0: none did); AtLeast is true when the
	// configured rate itself held, so the search went no higher.
	Rate    float64 `json:"ratePerSec"`
	AtLeast bool    `json:"atLeast,omitempty"`
	// Throughput, P50Ms, P99Ms and WebhookP99Ms are that trial's.
	Throughput   float64     `json:"throughputPerSec"`
	P50Ms        float64     `json:"p50Ms"`
	P99Ms        float64     `json:"p99Ms"`
	WebhookP99Ms float64     `json:"webhookP99Ms"`
	Trials       []RateTrial `json:"trials"`
	// Stopped says why the search ended.
	Stopped string `json:"stopped"`
}

// RateTrial is one run of the search.
type RateTrial struct {
	Rate         float64 `json:"offeredRate"`
	Orders       int     `json:"orders"`
	Throughput   float64 `json:"throughputPerSec"`
	P50Ms        float64 `json:"p50Ms"`
	P99Ms        float64 `json:"p99Ms"`
	WebhookP99Ms float64 `json:"webhookP99Ms"`
	Retries      int     `json:"webhookRetries"`
	Held         bool    `json:"held"` // p99 under 2 s
}

func trialOf(e *EndToEnd) RateTrial {
	return RateTrial{
		Rate: e.OfferedRate, Orders: e.Completed, Throughput: e.Throughput, P50Ms: e.Latency.P50,
		P99Ms: e.Latency.P99, WebhookP99Ms: e.Webhook.P99, Retries: e.WebhookRetries.Total,
		Held: e.Latency.P99 < sustainableP99Ms,
	}
}

// nextRate picks the next offered rate to try after trials (the first being the saturated
// run), or returns 0 and why the search is over.
func nextRate(trials []RateTrial) (float64, string) {
	if len(trials) == 0 {
		return 0, "no saturated run"
	}
	if len(trials) >= maxSearchTrials {
		return 0, fmt.Sprintf("%d trials", len(trials))
	}
	first := trials[0]
	if first.Held {
		return 0, "the configured rate held"
	}
	lo, hi := 0.0, math.Inf(1)
	for _, t := range trials {
		if t.Held {
			lo = max(lo, t.Rate)
		} else {
			hi = min(hi, t.Rate)
		}
	}
	var next float64
	switch {
	case lo == 0 && len(trials) == 1:
		// What the machine completed while saturated: a fair first guess.
		next = first.Throughput
	case lo == 0:
		next = hi / 2
	case hi == first.Rate:
		next = min(2*lo, (lo+hi)/2)
	default:
		next = (lo + hi) / 2
	}
	next = math.Floor(next/rateStep) * rateStep
	if next < rateStep {
		return 0, fmt.Sprintf("no rate from %g orders/s up held", rateStep)
	}
	if lo > 0 && hi/lo <= searchPrecision || next <= lo || next >= hi {
		return 0, fmt.Sprintf("bracketed: %g held, %g did not", lo, hi)
	}
	return next, ""
}

// trialOrders is how many orders a trial at rate offers: trialSeconds' worth, bounded.
func trialOrders(rate float64, most int) int {
	return max(min(int(math.Round(rate*trialSeconds)), most), min(minTrialOrders, most))
}

// sustainableOf picks the best trial that held.
func sustainableOf(trials []RateTrial, stopped string) *Sustainable {
	s := &Sustainable{Trials: trials, Stopped: stopped}
	for _, t := range trials {
		if t.Held && t.Rate > s.Rate {
			s.Rate, s.Throughput, s.P50Ms, s.P99Ms, s.WebhookP99Ms = t.Rate, t.Throughput, t.P50Ms, t.P99Ms, t.WebhookP99Ms
		}
	}
	s.AtLeast = len(trials) > 0 && trials[0].Held
	return s
}

// searchRate runs end-to-end trials at lower rates than the saturated run e, within budget.
func (r *runner) searchRate(ctx context.Context, e *EndToEnd, budget time.Duration) (*Sustainable, error) {
	deadline := time.Now().Add(budget)
	trials := []RateTrial{trialOf(e)}
	for {
		rate, stopped := nextRate(trials)
		if rate == 0 {
			return sustainableOf(trials, stopped), nil
		}
		n := trialOrders(rate, r.cfg.Orders)
		// A trial takes its offered time, the placing of its orders and the drain after.
		if need := time.Duration(float64(n)/rate*float64(time.Second)) + 15*time.Second; time.Until(deadline) < need {
			return sustainableOf(trials, fmt.Sprintf("time budget (%s) spent", budget)), nil
		}
		fmt.Fprintf(r.progress, "bench: rate search: trial %d at %g orders/s (%d orders)\n", len(trials)+1, rate, n)
		t, err := r.endToEnd(ctx, n, 0, rate)
		if err != nil {
			return nil, fmt.Errorf("bench: rate search at %g orders/s: %w", rate, err)
		}
		trials = append(trials, trialOf(t))
	}
}
