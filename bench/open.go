package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/epcflow/epcflow/demo"
	"github.com/epcflow/epcflow/workflows"
)

// schedulingStatus is the partner status an Appraisal PATCHes just before it waits for the
// appraiser (workflows.Appraisal).
const schedulingStatus = "Scheduling Inspection"

// openOrders places n Appraisal orders, lets the sandbox deliver their webhooks as the
// platform would, waits until all of them wait for the appraiser, and reads the memory.
func (r *runner) openOrders(ctx context.Context, n int) (*OpenOrders, error) {
	query := fmt.Sprintf("%s = '%s' AND %s = '%s' AND ExecutionStatus = 'Running'",
		workflows.SAStage.GetName(), workflows.StageAwaitSchedule, workflows.SAPartnerStatus.GetName(), schedulingStatus)
	// A file database may hold open orders of earlier runs: count only the new ones.
	before, err := r.count(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("bench: open orders: %w", err)
	}
	dbBefore, sized, err := databaseBytes(ctx, r.cfg.DBPath)
	if err != nil {
		return nil, fmt.Errorf("bench: open orders: %w", err)
	}
	fmt.Fprintf(r.progress, "bench: open orders: placing %d Appraisal orders (the sandbox delivers their webhooks)\n", n)
	t0 := time.Now()
	var placed atomic.Int64
	err = parallel(ctx, n, 8, func(i int) error {
		_, err := r.lender.PlaceOrder(ctx, demo.SampleOrder(workflows.TypeAppraisal, fmt.Sprintf("BENCH-OPEN-%06d", i+1), "1 Harbor Way"))
		if p := placed.Add(1); p%1000 == 0 {
			fmt.Fprintf(r.progress, "bench: open orders: %d placed (%s)\n", p, time.Since(t0).Round(time.Second))
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("bench: open orders: %w", err)
	}

	// Visibility is the only place that knows how many orders wait: poll it, gently, since
	// each count scans the open orders in the same database the orders are written to.
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	lastReport := time.Now()
	var waiting int64
	for {
		c, err := r.count(ctx, query)
		if err != nil {
			return nil, fmt.Errorf("bench: open orders: %w", err)
		}
		waiting = c - before
		if waiting >= int64(n) {
			break
		}
		if time.Since(lastReport) >= 10*time.Second {
			lastReport = time.Now()
			fmt.Fprintf(r.progress, "bench: open orders: %d of %d waiting for the appraiser (%s)\n", waiting, n, time.Since(t0).Round(time.Second))
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("bench: open orders: %d of %d waiting when time ran out: %w", waiting, n, ctx.Err())
		case <-tick.C:
		}
	}
	reached := time.Since(t0)
	// Webhooks about the last PATCHes may still be in flight; let them settle first.
	if err := r.sb.WaitIdle(ctx); err != nil {
		return nil, fmt.Errorf("bench: open orders: %w", err)
	}
	o := &OpenOrders{Orders: n, Waiting: int(waiting), ReachedMs: ms(reached)}
	if sized {
		after, _, err := databaseBytes(ctx, r.cfg.DBPath)
		if err != nil {
			return nil, fmt.Errorf("bench: open orders: %w", err)
		}
		o.DatabaseBytesBefore, o.DatabaseBytesAfter = dbBefore, after
		o.DatabaseBytesPerOrder = round1(float64(after-dbBefore) / float64(n))
	}
	if o.Worker, err = r.workerMemory(); err != nil {
		return nil, err
	}
	if o.Process, err = r.processMemory(); err != nil {
		return nil, err
	}
	o.WorkerBytesPerOrder = round1(float64(o.Worker.RSSBytes-r.idle.RSSBytes) / float64(n))
	fmt.Fprintf(r.progress, "bench: open orders: %d waiting after %s; worker RSS %.1f MB (%.1f KB per open order above idle); database %.0f bytes per open order\n",
		n, reached.Round(time.Second), o.Worker.MB(), o.WorkerBytesPerOrder/1024, o.DatabaseBytesPerOrder)
	return o, nil
}

// settle waits until visibility counts want workflows matching query, and returns how long
// that took. A phase leaves work behind (visibility records trail the histories); measuring
// the next phase on top of it would charge that work to the wrong side.
func (r *runner) settle(ctx context.Context, query string, want int64) (time.Duration, error) {
	start := time.Now()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		n, err := r.count(ctx, query)
		if err != nil {
			return 0, err
		}
		if n >= want {
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("visibility shows %d of %d closed workflows: %w", n, want, ctx.Err())
		case <-tick.C:
		}
	}
}

func (r *runner) count(ctx context.Context, query string) (int64, error) {
	resp, err := r.st.Client.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: query})
	if err != nil {
		return 0, fmt.Errorf("count workflows: %w", err)
	}
	return resp.GetCount(), nil
}
