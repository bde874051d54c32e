package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/internal/httpserver"
)

// hook is one signed webhook as the sandbox sent it.
type hook struct {
	header http.Header
	body   []byte
	txID   string
	// eventType and resourceType of the webhook, to tell an order's `created` webhook apart.
	eventType, resourceType string
}

// sink is the sandbox's partner URL during a run. While capturing it keeps every webhook and
// answers 200, so the benchmark can send the orders' first webhooks itself, at its own rate;
// once forwarding, it relays each webhook to the API as the platform would have sent it and
// answers with the API's status (a 503 still makes the sandbox retry).
type sink struct {
	client *http.Client

	mu        sync.Mutex
	forwardTo string                // "" while capturing
	captured  map[string][]*hook    // by transaction id
	record    func(d time.Duration) // latency of forwarded webhooks; nil: not recorded
	retried   *retries              // answers the sandbox must retry; nil: not counted
	errs      []error
}

func newSink(client *http.Client) *sink {
	return &sink{client: client, captured: map[string][]*hook{}}
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/webhooks/epc" {
		http.NotFound(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, epc.DefaultMaxWebhookBody))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	target, record, retried := s.forwardTo, s.record, s.retried
	s.mu.Unlock()
	if target == "" {
		h, err := newHook(r.Header, body)
		if err != nil {
			// A 4xx drops it for good: the sandbox sent something we cannot route, a bug.
			s.fail(err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.captured[h.txID] = append(s.captured[h.txID], h)
		s.mu.Unlock()
		return
	}
	status, d, retryAfter, err := postHookOnce(r.Context(), s.client, target, r.Header, body)
	if reason := retryReason(status, err); reason != "" {
		// The sandbox retries it, as ICE would: counted here, once per try made again.
		retried.add(reason)
	}
	if err != nil {
		http.Error(w, "forward: "+err.Error(), http.StatusBadGateway)
		return
	}
	if record != nil && status/100 == 2 {
		record(d)
	}
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.WriteHeader(status)
}

func newHook(header http.Header, body []byte) (*hook, error) {
	wh, err := epc.ParseWebhook(body)
	if err != nil {
		return nil, fmt.Errorf("captured webhook: %w", err)
	}
	txID, err := epc.TransactionIDFromWebhook(wh)
	if err != nil {
		return nil, fmt.Errorf("captured webhook: %w", err)
	}
	h := http.Header{}
	for _, k := range []string{"Content-Type", "Elli-Signature", "Elli-Environment", "Elli-Subscriptionid"} {
		if v := header.Values(k); len(v) > 0 {
			h[k] = v
		}
	}
	return &hook{header: h, body: body, txID: txID, eventType: wh.EventType, resourceType: wh.Meta.ResourceType}, nil
}

// forward makes the sink relay every later webhook to apiURL, recording each one's latency.
func (s *sink) forward(apiURL string, record func(time.Duration)) {
	s.mu.Lock()
	s.forwardTo = apiURL + "/webhooks/epc"
	s.record = record
	s.mu.Unlock()
}

// capture makes the sink keep every later webhook instead of relaying it.
func (s *sink) capture() {
	s.mu.Lock()
	s.forwardTo, s.record, s.retried = "", nil, nil
	s.mu.Unlock()
}

// setRecorder replaces the recorder of forwarded latencies and the count of answers the
// sandbox must retry (nil: none).
func (s *sink) setRecorder(record func(time.Duration), retried *retries) {
	s.mu.Lock()
	s.record, s.retried = record, retried
	s.mu.Unlock()
}

// take removes and returns the webhooks captured for a transaction, in arrival order.
func (s *sink) take(txID string) []*hook {
	s.mu.Lock()
	defer s.mu.Unlock()
	hs := s.captured[txID]
	delete(s.captured, txID)
	return hs
}

func (s *sink) fail(err error) {
	s.mu.Lock()
	s.errs = append(s.errs, err)
	s.mu.Unlock()
}

func (s *sink) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(s.errs...)
}

// postHookOnce makes one try of a webhook and returns the answer's status, how long it took
// and its Retry-After header.
func postHookOnce(ctx context.Context, c *http.Client, url string, header http.Header, body []byte) (int, time.Duration, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, 0, "", err
	}
	for _, k := range []string{"Content-Type", "Elli-Signature", "Elli-Environment", "Elli-Subscriptionid"} {
		if v := header.Values(k); len(v) > 0 {
			req.Header[k] = v
		}
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, time.Since(start), "", err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, time.Since(start), resp.Header.Get("Retry-After"), nil
}

// newHTTPClient is a client that keeps enough connections open for the benchmark's
// concurrency: the default two idle connections per host would make most requests dial.
func newHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 256
	tr.MaxIdleConnsPerHost = 256
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

// serveHTTP serves h on a free loopback port until the returned stop is called.
func serveHTTP(h http.Handler) (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv, err := httpserver.Serve(ln, h, httpserver.Limits{}, slog.New(slog.DiscardHandler))
	if err != nil {
		return "", nil, err
	}
	return srv.URL(), func() { _ = srv.Stop(5 * time.Second) }, nil
}
