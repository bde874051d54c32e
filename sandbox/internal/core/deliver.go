package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"syscall"
	"time"
)

// WebhookConfig sets how webhooks are delivered.
type WebhookConfig struct {
	// Client posts webhooks; nil means a client of the sandbox's own, which follows no
	// redirect (the platforms do not).
	Client *http.Client
	// Workers bounds how many tries run at once.
	Workers int
	// Tries counts every try of a copy, the first included; RetryInterval separates them;
	// Timeout bounds one.
	Tries         int
	RetryInterval time.Duration
	Timeout       time.Duration
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
	// FirstOnly delivers only the webhooks of an object's creation (EPC: a transaction's
	// first ones); every later one is recorded as withheld and never sent, as if the platform
	// had given up on it after its retries. Emulators without such objects ignore it.
	FirstOnly bool `json:"firstOnly"`
}

const defaultShuffleWindow = 100 * time.Millisecond

// MaxAnswer bounds what the sandbox reads of a partner's answer.
const MaxAnswer = 1 << 20

// Delivery is one webhook to post; the deliverer retries it and reports every try.
type Delivery struct {
	URL string
	// URLs, when set, replace URL: the replicas of the partner behind a load balancer [ours].
	// Each copy's first try goes to the next replica in turn; a retry goes to the replica
	// after the one that failed, and a connection refused moves on to the next at once
	// (within the same try, recorded apart), as ICE's retries reach another replica.
	URLs   []string
	Header http.Header
	Body   []byte
	What   string // for log lines
	// OnAttempt is called after every try; OnSettled once per copy with its outcome.
	OnAttempt func(Attempt)
	OnSettled func(copy int, outcome string)
}

// try is one copy of a delivery on its way.
type try struct {
	d      *Delivery
	copy   int
	n      int // tries made
	target int // index into d.URLs of the next try
}

// Deliverer posts webhooks with the platforms' rules: a 2xx settles; 5xx, timeouts and
// network errors are retried (Tries tries in all, RetryInterval apart); any 4xx drops the
// webhook for good. A fixed pool of workers does the posting, so senders never block.
type Deliverer struct {
	cfg  WebhookConfig
	now  func() time.Time
	log  *slog.Logger
	work *tracker
	ctx  context.Context
	wg   sync.WaitGroup

	mu       sync.Mutex
	cond     *sync.Cond
	queue    []*try
	timers   map[*time.Timer]*try
	closed   bool
	behavior WebhookBehavior
	rng      *rand.Rand
	turn     int // the round-robin over Delivery.URLs
}

func newDeliverer(ctx context.Context, cfg WebhookConfig, seed int64, now func() time.Time, log *slog.Logger, work *tracker) *Deliverer {
	d := &Deliverer{
		cfg: cfg, now: now, log: log, work: work, ctx: ctx,
		timers: map[*time.Timer]*try{},
		rng:    rand.New(rand.NewPCG(uint64(seed), 0x5eed)),
	}
	d.cond = sync.NewCond(&d.mu)
	if d.cfg.Client == nil {
		d.cfg.Client = &http.Client{
			Transport:     http.DefaultTransport.(*http.Transport).Clone(),
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	for range max(cfg.Workers, 1) {
		d.wg.Add(1)
		go d.run()
	}
	return d
}

// Config is the delivery configuration, its client filled in.
func (d *Deliverer) Config() WebhookConfig { return d.cfg }

// SetBehavior replaces the delivery chaos.
func (d *Deliverer) SetBehavior(b WebhookBehavior) {
	d.mu.Lock()
	d.behavior = b
	d.mu.Unlock()
}

// Behavior is the delivery chaos in force.
func (d *Deliverer) Behavior() WebhookBehavior {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.behavior
}

// Send queues dl (as many copies as the behavior says) and returns the number of copies
// queued: 0 once the deliverer is closed.
func (d *Deliverer) Send(dl *Delivery) int {
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
		d.work.add()
		d.scheduleLocked(d.newTryLocked(dl, c), delay)
	}
	return copies
}

// Requeue queues the given copies of dl at once, each with a fresh set of tries and no
// behavior applied: the webhooks a previous run left unsettled. It returns how many copies it
// queued: 0 once the deliverer is closed.
func (d *Deliverer) Requeue(dl *Delivery, copies []int) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return 0
	}
	for _, c := range copies {
		d.work.add()
		d.scheduleLocked(d.newTryLocked(dl, c), 0)
	}
	return len(copies)
}

// newTryLocked is copy c of dl, its first try aimed at the next replica in turn. Caller
// holds d.mu.
func (d *Deliverer) newTryLocked(dl *Delivery, c int) *try {
	t := &try{d: dl, copy: c}
	if len(dl.URLs) > 1 {
		t.target = d.turn % len(dl.URLs)
		d.turn++
	}
	return t
}

// url is where t's next try goes.
func (t *try) url() string {
	if len(t.d.URLs) == 0 {
		return t.d.URL
	}
	return t.d.URLs[t.target%len(t.d.URLs)]
}

// scheduleLocked queues t now or after delay. Caller holds d.mu and d is not closed.
func (d *Deliverer) scheduleLocked(t *try, delay time.Duration) {
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
			d.work.done()
			return
		}
		d.queue = append(d.queue, t)
		d.cond.Signal()
	})
	d.timers[tm] = t
}

func (d *Deliverer) next() *try {
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

func (d *Deliverer) run() {
	defer d.wg.Done()
	for t := d.next(); t != nil; t = d.next() {
		d.attempt(t)
	}
}

// attempt makes one try of t and decides what comes next.
func (d *Deliverer) attempt(t *try) {
	t.n++
	status, _, err := d.post(d.ctx, t.url(), t.d.Header, t.d.Body, false)
	// A refused connection reaches no replica: the next one is tried at once, as a load
	// balancer does, each replica at most once, within the same try (recorded apart).
	for refused := 1; err != nil && errors.Is(err, syscall.ECONNREFUSED) && refused < len(t.d.URLs) && d.ctx.Err() == nil; refused++ {
		t.d.OnAttempt(Attempt{At: d.now().UTC(), Copy: t.copy, Try: t.n, Target: t.target % len(t.d.URLs), Error: err.Error()})
		t.target++
		status, _, err = d.post(d.ctx, t.url(), t.d.Header, t.d.Body, false)
	}
	if d.ctx.Err() != nil { // closing: the try was cut short, not answered
		d.work.done()
		return
	}
	a := Attempt{At: d.now().UTC(), Copy: t.copy, Try: t.n, Status: status}
	if len(t.d.URLs) > 1 {
		a.Target = t.target % len(t.d.URLs)
	}
	if err != nil {
		a.Error = err.Error()
	}
	t.d.OnAttempt(a)
	outcome := TryOutcome(status, err)
	if outcome == "" && t.n >= d.cfg.Tries {
		outcome = OutcomeFailed
	}
	log := d.log.With(slog.String("webhook", t.d.What), slog.Int("copy", t.copy),
		slog.Int("try", t.n), slog.Int("status", status))
	if err != nil {
		log = log.With(slog.String("error", err.Error()))
	}
	switch outcome {
	case "":
		log.Info("webhook try failed; will retry", slog.Duration("in", d.cfg.RetryInterval))
		t.target++ // the retry reaches another replica, if there are several
		d.mu.Lock()
		if d.closed {
			d.work.done()
		} else {
			d.scheduleLocked(t, d.cfg.RetryInterval)
		}
		d.mu.Unlock()
		return
	case OutcomeDelivered:
		log.Debug("webhook delivered")
	default:
		log.Warn("webhook " + outcome)
	}
	t.d.OnSettled(t.copy, outcome)
	d.work.done()
}

// TryOutcome is what one try's reply settles: delivered (2xx), dropped (4xx), or "" (try
// again).
func TryOutcome(status int, err error) string {
	switch {
	case err == nil && status >= 200 && status < 300:
		return OutcomeDelivered
	case err == nil && status >= 400 && status < 500:
		return OutcomeDropped
	}
	return ""
}

// Post makes one try of a webhook under the configured timeout and returns the reply's
// status and (at most MaxAnswer bytes of) its body. Errors never name the URL.
func (d *Deliverer) Post(ctx context.Context, url string, header http.Header, body []byte) (int, []byte, error) {
	return d.post(ctx, url, header, body, true)
}

// post is Post; without readAnswer, the answer is drained (so the connection can be reused)
// and a failure to read it does not matter: the status settles the try.
func (d *Deliverer) post(ctx context.Context, url string, header http.Header, body []byte, readAnswer bool) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("build request: %w", err)
	}
	for k, vs := range header {
		req.Header[k] = slices.Clone(vs)
	}
	req.Header.Set("User-Agent", "epcflow-sandbox")
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return 0, nil, fmt.Errorf("timed out after %s", d.cfg.Timeout)
		}
		return 0, nil, stripURL(err)
	}
	defer resp.Body.Close()
	if !readAnswer {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxAnswer))
		return resp.StatusCode, nil, nil
	}
	answer, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer))
	if err != nil {
		return 0, nil, fmt.Errorf("read answer: %w", stripURL(err))
	}
	return resp.StatusCode, answer, nil
}

// close stops every worker and timer; copies not yet settled are abandoned.
func (d *Deliverer) close() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	for tm := range d.timers {
		if tm.Stop() {
			d.work.done()
		}
		delete(d.timers, tm)
	}
	for range d.queue {
		d.work.done()
	}
	d.queue = nil
	d.cond.Broadcast()
	d.mu.Unlock()
	d.wg.Wait()
	d.cfg.Client.CloseIdleConnections()
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
