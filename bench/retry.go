package bench

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/epcflow/epcflow/internal/wait"
)

// The API may answer a webhook 503 (Temporal busy or unreachable) or not answer at all; ICE
// then retries it (spec: 5xx, timeouts and connection errors are retried, 3 tries 20 s apart
// or exponentially for about 8 hours; any 4xx drops the webhook for good). The benchmark
// retries the same answers exponentially, from webhookRetryFirst up to webhookRetryMax apart,
// until the phase's time runs out, so a busy machine slows a run down instead of failing
// it, and counts every retry in the report. A 429 is retried too (after its Retry-After),
// though ICE would drop it: the report names it apart, as a fault of the API.
const (
	// webhookRetryFirst matches the bench sandbox's retry interval (ICE's 20 s, scaled down so
	// a run stays short).
	webhookRetryFirst = 2 * time.Second
	webhookRetryMax   = 20 * time.Second
	// sandboxWebhookTries keeps the sandbox retrying the webhooks it sends itself (relayed
	// through the sink) for the whole of a run instead of dropping them after 3 tries.
	sandboxWebhookTries = 200
)

// retryReason says why a webhook's try must be made again, or "" when it settled: a 2xx
// (delivered) or a 4xx other than 429 (which ICE drops, and the run then reports as an error).
func retryReason(status int, err error) string {
	var ne interface{ Timeout() bool }
	switch {
	case err != nil && errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case err != nil && errors.Is(err, context.Canceled):
		return "" // the run ends: nothing to retry
	case err != nil:
		return "connection error"
	case status == http.StatusTooManyRequests:
		return "429 (ICE would drop it)"
	case status >= 500:
		return strconv.Itoa(status)
	}
	return ""
}

// retryDelay is how long to wait before try n+1 (n >= 1 tries made): exponential from
// webhookRetryFirst, capped at webhookRetryMax, and never less than the answer's Retry-After.
func retryDelay(n int, retryAfter string) time.Duration {
	d := webhookRetryFirst
	for i := 1; i < n && d < webhookRetryMax; i++ {
		d *= 2
	}
	d = min(d, webhookRetryMax)
	if secs, err := strconv.Atoi(strings.TrimSpace(retryAfter)); err == nil && secs > 0 {
		d = max(d, time.Duration(secs)*time.Second)
	}
	return d
}

// retries counts webhook tries made again, by reason; safe for concurrent use.
type retries struct {
	mu       sync.Mutex
	byReason map[string]int
}

func (r *retries) add(reason string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	if r.byReason == nil {
		r.byReason = map[string]int{}
	}
	r.byReason[reason]++
	r.mu.Unlock()
}

// Retries is how many webhook tries were made again, and why ("503", "connection error"…).
type Retries struct {
	Total    int            `json:"total"`
	ByReason map[string]int `json:"byReason,omitempty"`
}

func (r *retries) snapshot() Retries {
	if r == nil {
		return Retries{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := Retries{ByReason: maps.Clone(r.byReason)}
	for _, n := range r.byReason {
		out.Total += n
	}
	return out
}

// String is "none" or e.g. "12 (503: 10, connection error: 2)".
func (r Retries) String() string {
	if r.Total == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(r.ByReason)) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, r.ByReason[k]))
	}
	return fmt.Sprintf("%d (%s)", r.Total, strings.Join(parts, ", "))
}

// postHookRetrying posts a webhook until it settles, as ICE would (see retryReason), and
// returns the settling answer's status and how long that try took. Every retry is counted in
// counted (nil: not counted).
func postHookRetrying(ctx context.Context, c *http.Client, url string, header http.Header, body []byte, counted *retries) (int, time.Duration, error) {
	for n := 1; ; n++ {
		status, d, retryAfter, err := postHookOnce(ctx, c, url, header, body)
		reason := retryReason(status, err)
		if reason == "" {
			return status, d, err
		}
		counted.add(reason)
		if wait.For(ctx, retryDelay(n, retryAfter)) != nil {
			if err == nil {
				err = fmt.Errorf("status %d", status)
			}
			return status, d, fmt.Errorf("still not delivered after %d tries (%s) when time ran out: %w", n, reason, errors.Join(err, ctx.Err()))
		}
	}
}
