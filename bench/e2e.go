package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/epcflow/epcflow/demo"
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/internal/histstats"
	"github.com/epcflow/epcflow/replay"
	"github.com/epcflow/epcflow/workflows"
)

// order is a sandbox transaction with the webhooks the sandbox sent when it was created.
type order struct {
	id    string
	hooks []*hook
}

// endToEnd measures n FloodCertification orders (after w warm-up ones) offered at rate
// through the whole stack.
func (r *runner) endToEnd(ctx context.Context, n, w int, rate float64) (*EndToEnd, error) {
	closed := closedQuery(workflows.TransactionWorkflowName)
	before, err := r.count(ctx, closed)
	if err != nil {
		return nil, fmt.Errorf("bench: end to end: %w", err)
	}
	fmt.Fprintf(r.progress, "bench: placing %d FloodCertification orders (+%d warm-up) in the sandbox\n", n, w)
	orders, err := r.prepare(ctx, workflows.TypeFloodCertification, "BENCH-FLOOD", n+w)
	if err != nil {
		return nil, err
	}
	if w > 0 {
		if _, err := r.drive(ctx, orders[:w], -1, nil, nil, nil); err != nil {
			return nil, fmt.Errorf("bench: warm-up: %w", err)
		}
		if err := r.sb.WaitIdle(ctx); err != nil {
			return nil, fmt.Errorf("bench: warm-up: %w", err)
		}
	}
	orders = orders[w:]

	fmt.Fprintf(r.progress, "bench: end to end: %d orders at %s\n", n, rateText(rate))
	var all, created samples
	var retried retries
	meter, err := r.startCPU()
	if err != nil {
		return nil, err
	}
	r.sink.setRecorder(all.add, &retried)
	sent, err := r.drive(ctx, orders, rate, &all, &created, &retried)
	if err != nil {
		return nil, fmt.Errorf("bench: end to end: %w", err)
	}
	// The last `response updated` webhooks are still on their way: let them be answered
	// (and measured) before the sandbox's records are read.
	if err := r.sb.WaitIdle(ctx); err != nil {
		return nil, fmt.Errorf("bench: end to end: %w", err)
	}
	r.sink.setRecorder(nil, nil)
	lag, err := r.settle(ctx, closed, before+int64(n+w))
	if err != nil {
		return nil, fmt.Errorf("bench: end to end: %w", err)
	}
	// After settling: the visibility records are part of the orders' cost.
	cpu, err := meter.since(len(orders))
	if err != nil {
		return nil, err
	}

	done, err := r.completedAt(ctx, orders)
	if err != nil {
		return nil, fmt.Errorf("bench: end to end: %w", err)
	}
	first, last := slices.MinFunc(sent, time.Time.Compare), slices.MaxFunc(done, time.Time.Compare)
	wall := last.Sub(first)
	lat := make([]time.Duration, len(orders))
	for i := range orders {
		lat[i] = done[i].Sub(sent[i])
	}
	hist, err := r.histories(ctx, orders)
	if err != nil {
		return nil, fmt.Errorf("bench: end to end: %w", err)
	}
	allDs := all.snapshot()
	e := &EndToEnd{
		OfferedRate:     rate,
		Completed:       len(orders),
		Throughput:      round2(float64(len(orders)) / wall.Seconds()),
		WallMs:          ms(wall),
		Latency:         summarize(slices.Clone(lat)),
		Webhook:         summarize(allDs),
		WebhookCreated:  summarize(created.snapshot()),
		WebhookRate:     round2(float64(len(allDs)) / wall.Seconds()),
		WebhookRetries:  retried.snapshot(),
		History:         hist,
		CPU:             cpu,
		VisibilityLagMs: ms(lag),
		latencies:       lat,
	}
	fmt.Fprintf(r.progress, "bench: end to end: %.1f orders/s, p50 %.1f ms, p99 %.1f ms; webhooks p99 %.1f ms (%d answered, retried: %s); %.1f ms CPU, %.1f actions, %.1f events per order\n",
		e.Throughput, e.Latency.P50, e.Latency.P99, e.Webhook.P99, e.Webhook.Count, e.WebhookRetries, e.CPU.PerOrderMs, e.History.Actions, e.History.EventsMean)
	return e, nil
}

// floodOnce runs one flood order (as a warm-up) and returns its history's shape.
func (r *runner) floodOnce(ctx context.Context) (History, error) {
	orders, err := r.prepare(ctx, workflows.TypeFloodCertification, "BENCH-FLOOD", 1)
	if err != nil {
		return History{}, err
	}
	if _, err := r.drive(ctx, orders, -1, nil, nil, nil); err != nil {
		return History{}, fmt.Errorf("bench: flood order: %w", err)
	}
	if err := r.sb.WaitIdle(ctx); err != nil {
		return History{}, err
	}
	return r.histories(ctx, orders)
}

// prepare places n orders with the sink capturing: their first webhooks are kept for drive.
func (r *runner) prepare(ctx context.Context, requestType, loanPrefix string, n int) ([]order, error) {
	r.sink.capture()
	defer r.sink.forward(r.st.APIURL, nil)
	orders := make([]order, n)
	err := parallel(ctx, n, 8, func(i int) error {
		o, err := r.lender.PlaceOrder(ctx, demo.SampleOrder(requestType, fmt.Sprintf("%s-%05d", loanPrefix, i+1), "4430 Rosewood Dr"))
		orders[i].id = o.ID
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("bench: place orders: %w", err)
	}
	// Idle means every webhook of those orders has reached the sink.
	if err := r.sb.WaitIdle(ctx); err != nil {
		return nil, fmt.Errorf("bench: place orders: %w", err)
	}
	for i := range orders {
		orders[i].hooks = r.sink.take(orders[i].id)
		if !slices.ContainsFunc(orders[i].hooks, isCreated) {
			return nil, fmt.Errorf("bench: order %s: the sandbox sent no `created` transaction webhook", orders[i].id)
		}
	}
	return orders, nil
}

// closedQuery finds the completed executions of a workflow type.
func closedQuery(workflowType string) string {
	return fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Completed'", workflowType)
}

func isCreated(h *hook) bool {
	return h.eventType == epc.WebhookCreated && h.resourceType == epc.ResourceTransaction
}

// drive sends each order's captured webhooks to the API on schedule (rate orders per second,
// open loop; negative: all at once), as the platform would have, and waits for every order's
// workflow to complete. It returns when each order's first webhook went out. Webhooks the
// API cannot take now are retried as ICE would, counted in retried.
func (r *runner) drive(ctx context.Context, orders []order, rate float64, all, created *samples, retried *retries) ([]time.Time, error) {
	sent := make([]time.Time, len(orders))
	errs := make([]error, len(orders))
	var wg sync.WaitGroup
	err := pace(ctx, len(orders), rate, func(i int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent[i] = time.Now()
			errs[i] = r.runOrder(ctx, orders[i], all, created, retried)
		}()
	})
	wg.Wait()
	return sent, errors.Join(append(errs, err)...)
}

// runOrder posts an order's webhooks (at once, as the sandbox's delivery workers would) and
// waits for its workflow's result.
func (r *runner) runOrder(ctx context.Context, o order, all, created *samples, retried *retries) error {
	errs := make([]error, len(o.hooks))
	var wg sync.WaitGroup
	for j, h := range o.hooks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, d, err := postHookRetrying(ctx, r.http, r.st.APIURL+"/webhooks/epc", h.header, h.body, retried)
			switch {
			case err != nil:
				errs[j] = fmt.Errorf("order %s: webhook %s: %w", o.id, h.eventType, err)
				return
			case status != http.StatusAccepted:
				errs[j] = fmt.Errorf("order %s: webhook %s: status %d, want 202", o.id, h.eventType, status)
				return
			}
			if all != nil {
				all.add(d)
			}
			if created != nil && isCreated(h) {
				created.add(d)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	var res workflows.TransactionResult
	if err := r.st.Client.GetWorkflow(ctx, workflows.TransactionWorkflowID(o.id), "").Get(ctx, &res); err != nil {
		return fmt.Errorf("order %s: %w", o.id, err)
	}
	if res.ResponseStatus != epc.StatusCompleted {
		return fmt.Errorf("order %s ended %q, want completed: %v", o.id, res.ResponseStatus, res.Errors)
	}
	return nil
}

// sandboxView is the part of the sandbox's control view the benchmark reads.
type sandboxView struct {
	Status          string            `json:"status"`
	ResponseHistory []json.RawMessage `json:"responseHistory"`
	PartnerCalls    []struct {
		Method string    `json:"method"`
		Path   string    `json:"path"`
		Status int       `json:"status"`
		At     time.Time `json:"at"`
	} `json:"partnerCalls"`
}

// completedAt reads, from the sandbox's records, when each order's completed PATCH was
// answered: the platform's view of the end, not the workflow's.
func (r *runner) completedAt(ctx context.Context, orders []order) ([]time.Time, error) {
	done := make([]time.Time, len(orders))
	err := parallel(ctx, len(orders), 8, func(i int) error {
		id := orders[i].id
		raw, err := r.lender.Transaction(ctx, id)
		if err != nil {
			return err
		}
		var v sandboxView
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("sandbox view of %s: %w", id, err)
		}
		if v.Status != epc.TransactionCompleted || len(v.ResponseHistory) == 0 {
			return fmt.Errorf("order %s: sandbox status %q, want completed", id, v.Status)
		}
		var lastPatch struct {
			Status string `json:"status"`
		}
		_ = json.Unmarshal(v.ResponseHistory[len(v.ResponseHistory)-1], &lastPatch)
		if lastPatch.Status != epc.StatusCompleted {
			return fmt.Errorf("order %s: last response PATCH has status %q, want completed", id, lastPatch.Status)
		}
		for _, c := range slices.Backward(v.PartnerCalls) {
			if c.Method == http.MethodPatch && strings.HasSuffix(c.Path, "/response") && c.Status == http.StatusNoContent {
				done[i] = c.At
				return nil
			}
		}
		return fmt.Errorf("order %s: no accepted response PATCH recorded", id)
	})
	return done, err
}

// histories measures the orders' workflow histories.
func (r *runner) histories(ctx context.Context, orders []order) (History, error) {
	counts := make([]histstats.Counts, len(orders))
	err := parallel(ctx, len(orders), 8, func(i int) error {
		var err error
		counts[i], err = r.historyCounts(ctx, workflows.TransactionWorkflowID(orders[i].id))
		return err
	})
	if err != nil {
		return History{}, err
	}
	return historyOf(counts), nil
}

// historyOf summarises the histories of several orders.
func historyOf(counts []histstats.Counts) History {
	if len(counts) == 0 {
		return History{}
	}
	events, acts, actions := make([]int, len(counts)), make([]int, len(counts)), make([]int, len(counts))
	var total histstats.Counts
	for i, c := range counts {
		events[i], acts[i], actions[i] = c.Events, c.Activities, c.Actions()
		total = total.Add(c)
	}
	n := float64(len(counts))
	return History{
		Events: median(events), Activities: median(acts),
		EventsMin: slices.Min(events), EventsMax: slices.Max(events),
		ActivitiesMin: slices.Min(acts), ActivitiesMax: slices.Max(acts),
		Actions:    round1(float64(total.Actions()) / n),
		ActionsMin: slices.Min(actions), ActionsMax: slices.Max(actions),
		EventsMean: round1(float64(total.Events) / n),
		Bytes:      round1(float64(total.Bytes) / n),
		Total:      total,
	}
}

// historyCounts counts a workflow's history (the latest run's).
func (r *runner) historyCounts(ctx context.Context, workflowID string) (histstats.Counts, error) {
	h, err := replay.History(ctx, r.st.Client, workflowID, "")
	if err != nil {
		return histstats.Counts{}, err
	}
	return histstats.Of(h), nil
}

func median(v []int) int {
	s := slices.Sorted(slices.Values(v))
	return s[(len(s)-1)/2]
}

// pace calls start(i) for i in [0, n) at rate calls per second from now (negative: at once),
// open loop: a slow call never delays the next one. It stops early when ctx ends.
func pace(ctx context.Context, n int, rate float64, start func(i int)) error {
	t0 := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for i := range n {
		if rate > 0 {
			due := t0.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			if wait := time.Until(due); wait > 0 {
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-timer.C:
				}
			}
		}
		start(i)
	}
	return nil
}

// parallel runs f(0..n-1) on at most workers goroutines and returns every error.
func parallel(ctx context.Context, n, workers int, f func(i int) error) error {
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = f(i)
			}
		}()
	}
	var err error
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	return errors.Join(append(errs, err)...)
}

func rateText(rate float64) string {
	if rate < 0 {
		return "all at once"
	}
	return fmt.Sprintf("%g orders/s", rate)
}
