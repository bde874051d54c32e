package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/internal/histstats"
)

func TestRetryReason(t *testing.T) {
	timeout := &net.DNSError{Err: "i/o timeout", IsTimeout: true}
	for _, tc := range []struct {
		name   string
		status int
		err    error
		want   string
	}{
		{"accepted", http.StatusAccepted, nil, ""},
		{"ok", http.StatusOK, nil, ""},
		{"503 retried", http.StatusServiceUnavailable, nil, "503"},
		{"500 retried", http.StatusInternalServerError, nil, "500"},
		{"429 retried, named apart", http.StatusTooManyRequests, nil, "429 (ICE would drop it)"},
		{"400 dropped, as ICE would", http.StatusBadRequest, nil, ""},
		{"401 dropped", http.StatusUnauthorized, nil, ""},
		{"connection refused", 0, &net.OpError{Op: "dial", Err: errors.New("connection refused")}, "connection error"},
		{"timeout", 0, timeout, "timeout"},
		{"run canceled", 0, fmt.Errorf("post: %w", context.Canceled), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, retryReason(tc.status, tc.err))
		})
	}
}

func TestRetryDelay(t *testing.T) {
	for _, tc := range []struct {
		tries      int
		retryAfter string
		want       time.Duration
	}{
		{1, "", 2 * time.Second},
		{2, "", 4 * time.Second},
		{3, "", 8 * time.Second},
		{4, "", 16 * time.Second},
		{5, "", 20 * time.Second}, // capped
		{50, "", 20 * time.Second},
		{1, "5", 5 * time.Second}, // Retry-After is a floor
		{3, "1", 8 * time.Second},
		{1, "soon", 2 * time.Second}, // unreadable: ignored
	} {
		require.Equal(t, tc.want, retryDelay(tc.tries, tc.retryAfter), "tries %d, Retry-After %q", tc.tries, tc.retryAfter)
	}
}

// TestPostHookRetrying: a 503 and a 429 are tried again and counted; the 202 settles.
func TestPostHookRetrying(t *testing.T) {
	var calls atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			w.WriteHeader(http.StatusAccepted)
		}
	}))
	defer api.Close()
	if testing.Short() {
		t.Skip("waits the retry delays (6 s)")
	}
	var counted retries
	status, _, err := postHookRetrying(context.Background(), api.Client(), api.URL, http.Header{}, []byte(`{}`), &counted)
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, status)
	got := counted.snapshot()
	require.Equal(t, Retries{Total: 2, ByReason: map[string]int{"503": 1, "429 (ICE would drop it)": 1}}, got)
	require.Equal(t, "2 (429 (ICE would drop it): 1, 503: 1)", got.String())
	require.Equal(t, "none", Retries{}.String())

	// A 4xx settles at once, as ICE drops it: the caller sees the status.
	calls.Store(-100)
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadRequest) }))
	defer bad.Close()
	status, _, err = postHookRetrying(context.Background(), bad.Client(), bad.URL, http.Header{}, []byte(`{}`), &counted)
	require.NoError(t, err)
	require.Equal(t, http.StatusBadRequest, status)

	// Never answered 2xx: the run's time ends the retries with an error naming the reason.
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	defer down.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, _, err = postHookRetrying(ctx, down.Client(), down.URL, http.Header{}, []byte(`{}`), nil)
	require.ErrorContains(t, err, "still not delivered after 1 tries (503)")
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestNextRate(t *testing.T) {
	held := func(rate float64) RateTrial { return RateTrial{Rate: rate, Held: true} }
	failed := func(rate, throughput float64) RateTrial { return RateTrial{Rate: rate, Throughput: throughput} }
	for _, tc := range []struct {
		name    string
		trials  []RateTrial
		want    float64
		stopped string
	}{
		{"nothing run", nil, 0, "no saturated run"},
		{"the configured rate held: no search", []RateTrial{held(7)}, 0, "the configured rate held"},
		{"saturated: try what it completed, rounded down", []RateTrial{failed(50, 11.7)}, 11.5, ""},
		{"that failed too: halve", []RateTrial{failed(50, 11.7), failed(11.5, 9)}, 5.5, ""},
		{"held below: bisect", []RateTrial{failed(50, 11.7), failed(11.5, 9), held(5.5)}, 8.5, ""},
		{"held, only the saturated rate failed: double", []RateTrial{failed(50, 2), held(2)}, 4, ""},
		{"held again: double again", []RateTrial{failed(50, 2), held(2), held(4)}, 8, ""},
		{"doubling stops at the saturated rate: bisect", []RateTrial{failed(50, 11.7), held(11.5), held(23)}, 36.5, ""},
		{"a doubling failed: bisect", []RateTrial{failed(50, 2), held(2), held(4), failed(8, 5)}, 6, ""},
		{"bracketed within precision", []RateTrial{failed(50, 11.7), failed(11.5, 9), held(10.5)}, 0, "bracketed: 10.5 held, 11.5 did not"},
		{"too many trials", []RateTrial{failed(50, 11.7), failed(11.5, 9), held(5.5), held(8.5), failed(10, 9)}, 0, "5 trials"},
		{"nothing holds down to the step", []RateTrial{failed(50, 0.6), failed(0.5, 0.4)}, 0, "no rate from 0.5 orders/s up held"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, stopped := nextRate(tc.trials)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.stopped, stopped)
		})
	}
}

func TestTrialOrders(t *testing.T) {
	for _, tc := range []struct {
		rate       float64
		most, want int
	}{
		{10, 200, 150}, {1, 200, 40}, {50, 200, 200}, {10, 20, 20}, {2.5, 200, 40},
	} {
		require.Equal(t, tc.want, trialOrders(tc.rate, tc.most), "rate %g, most %d", tc.rate, tc.most)
	}
}

func TestSustainableOf(t *testing.T) {
	trials := []RateTrial{
		{Rate: 50, Throughput: 11.7, P99Ms: 9000},
		{Rate: 11.5, Throughput: 9, P99Ms: 4000},
		{Rate: 5.5, Throughput: 5.5, P50Ms: 300, P99Ms: 900, WebhookP99Ms: 20, Held: true},
		{Rate: 8.5, Throughput: 8.4, P50Ms: 600, P99Ms: 1800, WebhookP99Ms: 35, Held: true},
	}
	s := sustainableOf(trials, "4 trials")
	require.Equal(t, 8.5, s.Rate)
	require.Equal(t, 1800.0, s.P99Ms)
	require.Equal(t, 35.0, s.WebhookP99Ms)
	require.False(t, s.AtLeast)
	require.Equal(t, "4 trials", s.Stopped)
	require.Zero(t, sustainableOf(trials[:2], "x").Rate)
	require.True(t, sustainableOf([]RateTrial{{Rate: 7, Held: true}}, "").AtLeast)
}

func TestHistoryOf(t *testing.T) {
	a := histstats.Counts{Events: 80, Bytes: 1000, Starts: 1, SignalsReceived: 7, Activities: 12, SearchAttrUpserts: 10}
	b := histstats.Counts{Events: 90, Bytes: 1200, Starts: 1, SignalsReceived: 8, Activities: 13, SearchAttrUpserts: 10}
	h := historyOf([]histstats.Counts{a, b})
	require.Equal(t, 31.0, h.Actions) // (30 + 32) / 2
	require.Equal(t, 30, h.ActionsMin)
	require.Equal(t, 32, h.ActionsMax)
	require.Equal(t, 85.0, h.EventsMean)
	require.Equal(t, 80, h.Events) // the lower median
	require.Equal(t, 1100.0, h.Bytes)
	require.Equal(t, a.Add(b), h.Total)
	require.Equal(t, History{}, historyOf(nil))
}

// The last line's exact shape (issue 12): scripts read it.
var lastLine = regexp.MustCompile(`^bench: e2e [0-9.]+/s, ceiling [0-9.]+/s, ratio [0-9.]+, floor [0-9.]+/s, floor ratio [0-9.]+, actions/order [0-9.]+, events/order [0-9.]+, webhook p99 [0-9.]+ ms, e2e p50 [0-9.]+ ms$`)

func TestLine(t *testing.T) {
	r := &Report{
		EndToEnd: &EndToEnd{Throughput: 11.64, Latency: Latency{P50: 5210.25}, Webhook: Latency{P99: 61.96},
			History: History{Actions: 30.04, EventsMean: 82.36}},
		Ceiling: Reference{Throughput: 16.2}, Floor: &Reference{Throughput: 40.04},
		Ratio: 0.72, FloorRatio: 0.29,
	}
	want := "bench: e2e 11.6/s, ceiling 16.2/s, ratio 0.72, floor 40.0/s, floor ratio 0.29, actions/order 30.0, events/order 82.4, webhook p99 62.0 ms, e2e p50 5210.2 ms"
	require.Equal(t, want, r.Line())
	require.Regexp(t, lastLine, r.Line())
	require.Contains(t, r.Markdown(), "**floor ratio** (end to end / floor): **0.29**")

	r.Sustainable = sustainableOf([]RateTrial{{Rate: 50, Throughput: 11.6, P99Ms: 9000}, {Rate: 8.5, Throughput: 8.4, P99Ms: 1800, WebhookP99Ms: 35, Held: true}}, "2 trials")
	require.Contains(t, r.Markdown(), "**Highest sustainable rate** (end-to-end p99 under 2 s): 8.5 orders/s (p99 1800 ms, webhook p99 35.0 ms)")

	long := &Report{LongOpen: &LongOpen{Days: 30, Notes: 30, Webhooks: 500, Runs: 2, Total: histstats.Counts{Events: 4000, Bytes: 900000}, Actions: 1500}}
	require.Equal(t, "bench: long open 30 days, 30 notes, 500 webhooks: 2 runs, 4000 events, 900000 bytes, 1500 actions", long.Line())
}
