package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// Webhook outcomes as the control API reports them.
const (
	outcomePending   = "pending"   // a copy is queued, in flight or waiting for a retry
	outcomeDelivered = "delivered" // a copy got a 2xx
	outcomeDropped   = "dropped"   // a 4xx: never tried again (the platform's rule)
	outcomeFailed    = "failed"    // every try failed with a 5xx, a timeout or a network error
	outcomeAbandoned = "abandoned" // the sandbox was closed before it was sent
)

// webhookRecord is what the sandbox remembers of one webhook (all copies). Guarded by the
// owning transaction's mu.
type webhookRecord struct {
	EventID      string           `json:"eventId"`
	EventType    string           `json:"eventType"`
	ResourceType string           `json:"resourceType"`
	ResourceID   string           `json:"resourceId"`
	Queued       time.Time        `json:"queued"`
	Copies       int              `json:"copies"`
	Attempts     []webhookAttempt `json:"attempts"`
	Outcome      string           `json:"outcome"`

	settled map[int]string // copy → outcome
	// body is the webhook as signed, kept while pending so the state file can carry it over a
	// restart.
	body []byte
}

// webhookAttempt is one try of one copy.
type webhookAttempt struct {
	At     time.Time `json:"at"`
	Copy   int       `json:"copy,omitempty"` // 0 for the first copy; see WebhookBehavior.Copies
	Try    int       `json:"try"`
	Status int       `json:"status,omitempty"`
	Error  string    `json:"error,omitempty"`
}

// settle records a copy's final outcome. The webhook is delivered as soon as one copy got
// through; otherwise it takes the outcome of its copies once all are settled.
func (r *webhookRecord) settle(copy int, outcome string) {
	if r.settled == nil {
		r.settled = map[int]string{}
	}
	r.settled[copy] = outcome
	if outcome == outcomeDelivered {
		r.Outcome = outcomeDelivered
		r.body = nil
		return
	}
	if r.Outcome == outcomeDelivered || len(r.settled) < r.Copies {
		return
	}
	r.Outcome = outcome
	r.body = nil
	for _, o := range r.settled {
		if o == outcomeDropped { // a 4xx is the most telling outcome
			r.Outcome = outcomeDropped
		}
	}
}

// WebhookBehavior is the chaos the control API can put on webhook delivery
// (PUT /sandbox/webhooks/behavior).
type WebhookBehavior struct {
	// Copies delivers every webhook this many times (same eventId and body); 0 means 1.
	Copies int `json:"copies"`
	// Shuffle delays each copy by a random part of Window, so deliveries arrive out of order.
	Shuffle bool `json:"shuffle"`
	// Delay holds every copy back this long before its first try.
	Delay Duration `json:"delay"`
	// Window bounds the random shuffle delay; 0 means 100ms.
	Window Duration `json:"window"`
}

const defaultShuffleWindow = 100 * time.Millisecond

// Duration is a time.Duration written in JSON as a Go duration string ("1.5s").
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`must be a duration string such as "250ms" or "2s"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("not a duration: %q", s)
	}
	if v < 0 {
		return errors.New("must not be negative")
	}
	*d = Duration(v)
	return nil
}

// delivery is one webhook to post; the deliverer retries it and reports every try.
type delivery struct {
	url    string
	header http.Header
	body   []byte
	what   string // for log lines
	// onAttempt is called after every try; onSettled once per copy with its outcome.
	onAttempt func(webhookAttempt)
	onSettled func(copy int, outcome string)
}

// try is one copy of a delivery on its way.
type try struct {
	d    *delivery
	copy int
	n    int // tries made
}

type deliveryConfig struct {
	client   *http.Client
	workers  int
	tries    int
	interval time.Duration
	timeout  time.Duration
	seed     int64
	now      func() time.Time
	log      *slog.Logger
	work     *tracker
}

// deliverer posts webhooks with the platform's rules: a 2xx settles; 5xx, timeouts and
// network errors are retried (cfg.tries tries in all, cfg.interval apart); any 4xx drops the
// webhook for good. A fixed pool of workers does the posting, so senders never block.
type deliverer struct {
	cfg    deliveryConfig
	client *http.Client
	ctx    context.Context
	wg     sync.WaitGroup

	mu       sync.Mutex
	cond     *sync.Cond
	queue    []*try
	timers   map[*time.Timer]*try
	closed   bool
	behavior WebhookBehavior
	rng      *rand.Rand
}

func newDeliverer(ctx context.Context, cfg deliveryConfig) *deliverer {
	d := &deliverer{
		cfg:    cfg,
		client: cfg.client,
		ctx:    ctx,
		timers: map[*time.Timer]*try{},
		rng:    rand.New(rand.NewPCG(uint64(cfg.seed), 0x5eed)),
	}
	d.cond = sync.NewCond(&d.mu)
	if d.client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		d.client = &http.Client{
			Transport: tr,
			// The platform does not follow redirects; a 3xx is a failed try.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	for range max(cfg.workers, 1) {
		d.wg.Add(1)
		go d.work()
	}
	return d
}

func (d *deliverer) setBehavior(b WebhookBehavior) {
	d.mu.Lock()
	d.behavior = b
	d.mu.Unlock()
}

func (d *deliverer) getBehavior() WebhookBehavior {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.behavior
}

// send queues dl (as many copies as the behavior says) and returns the number of copies
// queued: 0 once the deliverer is closed.
func (d *deliverer) send(dl *delivery) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return 0
	}
	b := d.behavior
	copies := max(b.Copies, 1)
	for c := range copies {
		delay := time.Duration(b.Delay)
		if b.Shuffle {
			window := time.Duration(b.Window)
			if window <= 0 {
				window = defaultShuffleWindow
			}
			delay += time.Duration(d.rng.Int64N(int64(window)))
		}
		d.cfg.work.add()
		d.scheduleLocked(&try{d: dl, copy: c}, delay)
	}
	return copies
}

// requeue queues the given copies of dl at once, each with a fresh set of tries and no
// behavior applied: the webhooks a previous run left unsettled (see Config.StateFile). It
// returns how many copies it queued: 0 once the deliverer is closed.
func (d *deliverer) requeue(dl *delivery, copies []int) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return 0
	}
	for _, c := range copies {
		d.cfg.work.add()
		d.scheduleLocked(&try{d: dl, copy: c}, 0)
	}
	return len(copies)
}

// scheduleLocked queues t now or after delay. Caller holds d.mu and d is not closed.
func (d *deliverer) scheduleLocked(t *try, delay time.Duration) {
	if delay <= 0 {
		d.queue = append(d.queue, t)
		d.cond.Signal()
		return
	}
	var tm *time.Timer
	tm = time.AfterFunc(delay, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		delete(d.timers, tm)
		if d.closed {
			d.cfg.work.done()
			return
		}
		d.queue = append(d.queue, t)
		d.cond.Signal()
	})
	d.timers[tm] = t
}

func (d *deliverer) next() *try {
	d.mu.Lock()
	defer d.mu.Unlock()
	for len(d.queue) == 0 && !d.closed {
		d.cond.Wait()
	}
	if d.closed {
		return nil
	}
	t := d.queue[0]
	d.queue[0] = nil
	d.queue = d.queue[1:]
	return t
}

func (d *deliverer) work() {
	defer d.wg.Done()
	for {
		t := d.next()
		if t == nil {
			return
		}
		d.attempt(t)
	}
}

// attempt makes one try of t and decides what comes next.
func (d *deliverer) attempt(t *try) {
	t.n++
	status, err := d.post(t.d)
	if d.ctx.Err() != nil { // closing: the try was cut short, not answered
		d.cfg.work.done()
		return
	}
	a := webhookAttempt{At: d.cfg.now().UTC(), Copy: t.copy, Try: t.n, Status: status}
	if err != nil {
		a.Error = err.Error()
	}
	t.d.onAttempt(a)
	outcome := ""
	switch {
	case err == nil && status >= 200 && status < 300:
		outcome = outcomeDelivered
	case err == nil && status >= 400 && status < 500:
		outcome = outcomeDropped
	case t.n >= d.cfg.tries:
		outcome = outcomeFailed
	}
	log := d.cfg.log.With(slog.String("webhook", t.d.what), slog.Int("copy", t.copy),
		slog.Int("try", t.n), slog.Int("status", status))
	if err != nil {
		log = log.With(slog.String("error", err.Error()))
	}
	if outcome == "" {
		log.Info("webhook try failed; will retry", slog.Duration("in", d.cfg.interval))
		d.mu.Lock()
		if d.closed {
			d.cfg.work.done()
		} else {
			d.scheduleLocked(t, d.cfg.interval)
		}
		d.mu.Unlock()
		return
	}
	if outcome == outcomeDelivered {
		log.Debug("webhook delivered")
	} else {
		log.Warn("webhook " + outcome)
	}
	t.d.onSettled(t.copy, outcome)
	d.cfg.work.done()
}

// post sends one try and returns the reply status. The reply body is drained so the
// connection can be reused.
func (d *deliverer) post(dl *delivery) (int, error) {
	ctx, cancel := context.WithTimeout(d.ctx, d.cfg.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dl.url, bytes.NewReader(dl.body))
	if err != nil {
		return 0, fmt.Errorf("build request: %w", err)
	}
	for k, vs := range dl.header {
		req.Header[k] = vs
	}
	req.Header.Set("User-Agent", "epcflow-sandbox")
	resp, err := d.client.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return 0, fmt.Errorf("timed out after %s", d.cfg.timeout)
		}
		return 0, stripURL(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, nil
}

// close stops every worker and timer; copies not yet settled are abandoned.
func (d *deliverer) close() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	for tm := range d.timers {
		if tm.Stop() {
			d.cfg.work.done()
		}
		delete(d.timers, tm)
	}
	for range d.queue {
		d.cfg.work.done()
	}
	d.queue = nil
	d.cond.Broadcast()
	d.mu.Unlock()
	d.wg.Wait()
	d.client.CloseIdleConnections()
}

// stripURL drops the URL from a client error, keeping its cause.
func stripURL(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

// getWebhookBehavior is GET /sandbox/webhooks/behavior.
func (s *Server) getWebhookBehavior(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, s.hooks.getBehavior())
	return nil
}

// putWebhookBehavior is PUT /sandbox/webhooks/behavior.
func (s *Server) putWebhookBehavior(w http.ResponseWriter, r *http.Request) error {
	body, err := readJSON(r, false)
	if err != nil {
		return err
	}
	var ps problems
	obj, ok := decodeObject(body, "", &ps)
	if !ok {
		return invalid("invalid webhook behavior", ps)
	}
	var b WebhookBehavior
	decodeFields(obj, "", &ps, map[string]any{
		"copies": &b.Copies, "shuffle": &b.Shuffle, "delay": &b.Delay, "window": &b.Window,
	})
	if b.Copies < 0 || b.Copies > 100 {
		ps.add("/copies", "must be between 0 and 100")
	}
	if len(ps) > 0 {
		return invalid("invalid webhook behavior", ps)
	}
	s.hooks.setBehavior(b)
	writeJSON(w, http.StatusOK, b)
	return nil
}

// jsonMessage turns a decoding error into a message without Go type names.
func jsonMessage(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("must be a %s, got %s", jsonTypeName(te.Type.Kind().String()), te.Value)
	}
	return err.Error()
}

func jsonTypeName(kind string) string {
	switch kind {
	case "int", "int64", "uint64", "float64":
		return "number"
	case "bool":
		return "boolean"
	case "slice":
		return "array"
	case "map", "struct":
		return "object"
	}
	return kind
}
