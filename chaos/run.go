package chaos

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/epcflow/epcflow/demo"
	"github.com/epcflow/epcflow/sandbox"
	"github.com/epcflow/epcflow/workerproc"
	"github.com/epcflow/epcflow/workflows"
)

// order is one placed order and what became of it.
type order struct {
	n    int
	id   string
	typ  string
	kind orderKind

	// Set by the lender of a changed order: when it canceled or updated it, or why not.
	changedAt time.Time
	lender    error

	// Set by its follower before it counts as finished.
	result   workflows.TransactionResult
	err      error // the workflow could not be awaited (the run timed out)
	appraise error // the simulated appraiser gave up
}

func (r *runner) run(ctx context.Context) (*Report, error) {
	cfg := r.cfg
	// The lender maps both products' service events, so the platform processes them.
	if err := r.lender.SetServiceEventMappings(ctx, map[string][]string{
		"FLOOD-DETERMINED": {"task", "notification"}, "APPRAISAL-DELIVERED": {"task", "notification"},
	}); err != nil {
		return nil, fmt.Errorf("chaos: service event mappings: %w", err)
	}
	if err := r.lender.SetWebhookBehavior(ctx, sandbox.WebhookBehavior{
		Copies: cfg.WebhookCopies, Shuffle: true, Window: sandbox.Duration(500 * time.Millisecond), FirstOnly: cfg.LostWebhooks,
	}); err != nil {
		return nil, fmt.Errorf("chaos: webhook behavior: %w", err)
	}
	if err := r.lender.SetFaults(ctx, r.faults(nil)); err != nil {
		return nil, fmt.Errorf("chaos: faults: %w", err)
	}
	r.log.printf("faults on every partner route: %.0f%% 5xx, %.0f%% 429 (Retry-After 1s), %.0f%% 5xx after the work was done, +%s latency; every webhook %d times, shuffled",
		cfg.ErrorRate*100, cfg.RateLimited*100, cfg.LostReplies*100, cfg.Latency, cfg.WebhookCopies)
	if cfg.LostWebhooks {
		r.log.printf("lost webhooks: none delivered after an order's first ones; the lender cancels every 4th order and supplies the input of every 4th; workers recheck every %s", cfg.RecheckInterval)
	}

	prog := newProgress()
	var (
		kept   keeper
		orders []*order
		pkgs   []*pkgOrder
		buys   []*purchase
		placed = make(chan error, 3)
	)
	// A failed placing ends the acts of chaos that wait for orders it will not place.
	wreakCtx, stopWreak := context.WithCancel(ctx)
	defer stopWreak()
	go func() {
		placed <- failing(stopWreak, r.place(ctx, keep(&kept, &orders, func(o *order) {
			r.follow(ctx, o)
			prog.finished()
		})))
	}()
	go func() {
		placed <- r.placePackages(ctx, keep(&kept, &pkgs, func(p *pkgOrder) { r.followPackage(ctx, p) }))
	}()
	go func() {
		placed <- r.placePayments(ctx, keep(&kept, &buys, func(p *purchase) { r.followPayment(ctx, p) }))
	}()

	chaosErr := r.wreak(wreakCtx, prog)
	placeErr := errors.Join(<-placed, <-placed, <-placed)
	kept.followed.Wait()
	if err := errors.Join(placeErr, chaosErr); err != nil && ctx.Err() == nil {
		return nil, err
	}
	// Stop the faults so that the records are read in full.
	readCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if err := r.lender.SetFaults(readCtx, sandbox.FaultConfig{Rules: []sandbox.FaultRule{}}); err != nil {
		return nil, fmt.Errorf("chaos: faults off: %w", err)
	}
	r.log.printf("all %d orders, %d packages and %d payments followed to their end; checking the sandbox's records", len(orders), len(pkgs), len(buys))
	rep, err := r.check(readCtx, orders)
	if err != nil {
		return nil, err
	}
	if err := r.checkPackages(readCtx, pkgs, rep); err != nil {
		return nil, err
	}
	if err := r.checkPayments(readCtx, buys, rep); err != nil {
		return nil, err
	}
	rep.Duration = time.Since(r.started)
	rep.Timeline = r.log.lines()
	if ctx.Err() != nil {
		rep.Deviations = append(rep.Deviations, fmt.Sprintf("the run hit its %s timeout", cfg.Timeout))
	}
	return rep, nil
}

// keeper keeps what the placings placed, each placing in its own list, and follows every
// placed item to its end in a goroutine of its own.
type keeper struct {
	mu       sync.Mutex
	followed sync.WaitGroup
}

// keep is a placing's callback: it adds each placed item to *list and follows it.
func keep[T any](k *keeper, list *[]T, follow func(T)) func(T) {
	return func(v T) {
		k.mu.Lock()
		*list = append(*list, v)
		k.mu.Unlock()
		k.followed.Go(func() { follow(v) })
	}
}

// failing calls stop when err is not nil, and returns err.
func failing(stop func(), err error) error {
	if err != nil {
		stop()
	}
	return err
}

// faults is the fault config: an optional outage first, then the random faults. Rules are
// tried in order and the first that fires answers, so each rate is conditioned on the
// earlier rules not firing.
func (r *runner) faults(outage *sandbox.FaultOutage) sandbox.FaultConfig {
	cfg := r.cfg
	latency := sandbox.Duration(cfg.Latency)
	retryAfter := sandbox.Duration(time.Second)
	rate := func(p, before float64) *float64 { v := p / (1 - before); return &v }
	never := 0.0
	var rules []sandbox.FaultRule
	if outage != nil {
		rules = append(rules, sandbox.FaultRule{Route: "*", Outage: outage, Status: http.StatusServiceUnavailable})
	}
	rules = append(rules,
		sandbox.FaultRule{Route: "*", Latency: &latency, ErrorRate: &never},
		sandbox.FaultRule{Route: "*", ErrorRate: rate(cfg.ErrorRate/2, 0), Status: http.StatusServiceUnavailable},
		sandbox.FaultRule{Route: "*", ErrorRate: rate(cfg.ErrorRate/2, cfg.ErrorRate/2), Status: http.StatusBadGateway},
		sandbox.FaultRule{Route: "*", ErrorRate: rate(cfg.RateLimited, cfg.ErrorRate), Status: http.StatusTooManyRequests, RetryAfter: &retryAfter},
		sandbox.FaultRule{Route: "*", ErrorRate: rate(cfg.LostReplies, cfg.ErrorRate+cfg.RateLimited), Status: http.StatusBadGateway, Phase: "after"},
	)
	return sandbox.FaultConfig{Seed: &cfg.Seed, Rules: rules}
}

// place places the orders at the configured rate, handing each to add.
func (r *runner) place(ctx context.Context, add func(*order)) error {
	streets := []string{"4430 Rosewood Dr", "1 Harbor Way", "77 Levee Rd", "12 Hilltop Ct", "950 Bay St", "5 River Bend"}
	var placed []string
	err := pace(ctx, r.cfg.Orders, time.Duration(float64(time.Second)/r.cfg.Rate), func(i int) error {
		if i == r.cfg.Orders/2 && r.cfg.Halfway != nil {
			r.log.printf("%d orders placed: halfway, the placing waits", i)
			if err := r.cfg.Halfway(ctx, slices.Clone(placed)); err != nil {
				return fmt.Errorf("chaos: halfway: %w", err)
			}
			r.log.printf("placing the other %d orders", r.cfg.Orders-i)
		}
		req, kind := r.orderFor(i, streets[i%len(streets)])
		o, err := r.lender.PlaceOrder(ctx, req)
		if err != nil {
			return fmt.Errorf("chaos: place order %d: %w", i+1, err)
		}
		placed = append(placed, o.ID)
		add(&order{n: i + 1, id: o.ID, typ: req.Type, kind: kind})
		return nil
	})
	if err == nil {
		r.log.printf("all %d orders placed", r.cfg.Orders)
	}
	return err
}

// pace calls do for i in [0, n), one call every interval, until ctx ends.
func pace(ctx context.Context, n int, interval time.Duration, do func(i int) error) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := range n {
		if err := do(i); err != nil {
			return err
		}
		if i == n-1 {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// follow plays the appraiser on an Appraisal (unless the lender cancels it) and the lender on
// an order it changes, and waits for the order's workflow to end.
func (r *runner) follow(ctx context.Context, o *order) {
	var appraised sync.WaitGroup
	switch {
	case o.kind != kindPlain:
		appraised.Add(1)
		go func() {
			defer appraised.Done()
			o.lender = r.lenderActs(ctx, o)
		}()
	case o.typ == workflows.TypeAppraisal:
		appraised.Add(1)
		go func() {
			defer appraised.Done()
			o.appraise = appraise(ctx, r.operator, o.id, int64(400000+1000*o.n))
		}()
	}
	o.result, o.err = r.await(ctx, o.id)
	appraised.Wait()
}

// await waits for the transaction's workflow result. The workflow may not exist yet (its
// webhook is on the way) and the server may be down for a while: both are waited out.
func (r *runner) await(ctx context.Context, id string) (workflows.TransactionResult, error) {
	var res workflows.TransactionResult
	backoff := 100 * time.Millisecond
	for {
		err := r.client.GetWorkflow(ctx, workflows.TransactionWorkflowID(id), "").Get(ctx, &res)
		if err == nil {
			return res, nil
		}
		var notFound *serviceerror.NotFound
		if ctx.Err() != nil {
			return res, fmt.Errorf("transaction %s: %w", id, err)
		}
		if !errors.As(err, &notFound) {
			backoff = time.Second // the server is restarting; or the workflow failed, which check reports
		}
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("transaction %s: %w", id, ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// appraise is the appraiser's side of one Appraisal, written as a person would act: look at
// the order, do what it waits for, look again. Failed calls (the API may answer 503 while
// Temporal restarts) are retried after a look; an action that did happen although its
// answer was lost shows in the next look, so it is never done twice.
func appraise(ctx context.Context, op *demo.Operator, id string, value int64) error {
	backoff := 50 * time.Millisecond
	var last error
	for {
		st, err := op.Status(ctx, id)
		switch {
		case err != nil:
			last = err
		case st.Closed:
			return nil
		case st.Stage == workflows.StageAwaitSchedule:
			_, last = op.Schedule(ctx, id, time.Now().Add(48*time.Hour).Truncate(time.Hour), "Scott Cooper")
		case st.Stage == workflows.StageAwaitReport:
			_, last = op.Deliver(ctx, id, demo.SampleReport(id, value), value)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("appraiser on %s: %w (last error: %v)", id, ctx.Err(), last)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Second)
	}
}

// progress counts finished orders and lets the chaos wait for a share of them.
type progress struct {
	mu      sync.Mutex
	n       int
	changed chan struct{}
}

func newProgress() *progress { return &progress{changed: make(chan struct{})} }

func (p *progress) finished() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	close(p.changed)
	p.changed = make(chan struct{})
}

// await blocks until n orders have finished.
func (p *progress) await(ctx context.Context, n int) error {
	for {
		p.mu.Lock()
		done, ch := p.n >= n, p.changed
		p.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

func (p *progress) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// wreak performs the acts of chaos in order as the orders finish.
func (r *runner) wreak(ctx context.Context, prog *progress) error {
	steps := slices.Clone(r.cfg.Steps)
	for k := range r.cfg.Kills {
		at := 0.15
		if r.cfg.Kills > 1 {
			at += 0.55 * float64(k) / float64(r.cfg.Kills-1)
		}
		steps = append(steps, Step{At: at, Name: fmt.Sprintf("kill worker 1 (%d of %d)", k+1, r.cfg.Kills), Do: r.killWorker})
	}
	if r.cfg.Outage > 0 {
		steps = append(steps, Step{At: 0.30, Name: "partner API outage", Do: r.outage})
	}
	if r.cfg.ServerDowntime > 0 {
		steps = append(steps, Step{At: 0.50, Name: "Temporal server restart", Do: r.restartServer})
	}
	slices.SortStableFunc(steps, func(a, b Step) int { return cmp.Compare(a.At, b.At) })
	for _, s := range steps {
		target := max(1, int(s.At*float64(r.cfg.Orders)))
		if err := prog.await(ctx, target); err != nil {
			r.log.printf("%s never came: only %d orders finished", s.Name, prog.count())
			return nil // check reports the orders that did not finish
		}
		if err := s.Do(ctx); err != nil {
			return fmt.Errorf("chaos: %s: %w", s.Name, err)
		}
	}
	return nil
}

// killWorker SIGKILLs the first worker while it runs activities, and starts it again.
func (r *runner) killWorker(ctx context.Context) error {
	w := r.workers[0]
	busy := ActivitiesInFlight(ctx, r.wcfg[0].MetricsListen, 15*time.Second)
	if err := w.Kill(); err != nil {
		return err
	}
	if busy > 0 {
		r.log.printf("worker 1 (pid %d) SIGKILLed with %d activities in flight", w.PID(), busy)
	} else {
		r.log.printf("worker 1 (pid %d) SIGKILLed; no activity was seen in flight within 15s", w.PID())
	}
	r.stats.kills++
	if busy > 0 {
		r.stats.killsMidActivity++
	}
	nw, err := workerproc.Start(ctx, r.client, r.wcfg[0])
	if err != nil {
		return fmt.Errorf("restart worker 1: %w", err)
	}
	r.workers[0] = nw
	r.log.printf("worker 1 restarted as process %d", nw.PID())
	return nil
}

// ActivitiesInFlight reads a worker's activity slots in use from its /metrics (at
// metricsAddr, host:port) until some are, or timeout passes (then 0): the moment to SIGKILL
// it in the middle of its activities.
func ActivitiesInFlight(ctx context.Context, metricsAddr string, timeout time.Duration) int {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		if n := readActivitySlots(ctx, hc, "http://"+metricsAddr+"/metrics"); n > 0 {
			return n
		}
		select {
		case <-ctx.Done():
			return 0
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// readActivitySlots returns the SDK's temporal_worker_task_slots_used gauge of the activity
// worker, 0 when it cannot be read.
func readActivitySlots(ctx context.Context, hc *http.Client, url string) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	total := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "temporal_worker_task_slots_used{") || !strings.Contains(line, `worker_type="ActivityWorker"`) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err == nil {
			total += int(v)
		}
	}
	return total
}

// outage makes every partner route answer 503 for the configured time, from now.
func (r *runner) outage(ctx context.Context) error {
	now := sandbox.Duration(0)
	if err := r.lender.SetFaults(ctx, r.faults(&sandbox.FaultOutage{After: &now, Duration: sandbox.Duration(r.cfg.Outage)})); err != nil {
		return err
	}
	r.stats.outages++
	r.log.printf("partner API down (503 on every route) for %s", r.cfg.Outage)
	return nil
}

// restartServer stops the Temporal server and starts it again on the same file.
func (r *runner) restartServer(ctx context.Context) error {
	r.log.printf("Temporal server stopping (down for %s)", r.cfg.ServerDowntime)
	if err := r.st.RestartTemporal(ctx, r.cfg.ServerDowntime); err != nil {
		return err
	}
	r.stats.restarts++
	r.log.printf("Temporal server started again on the same database")
	return nil
}
