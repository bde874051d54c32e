package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// The reference workflows an order is measured against, on a task queue of their own and
// registered here (bench only; everything else registers in worker/registry.go):
//   - the ceiling: as many no-op activities, one after the other, as a flood order schedules,
//     started with the client: what Temporal allows for an order's activities alone;
//   - the floor: one no-op activity in a workflow started as an order is (floor.go): the
//     least any durable order can cost.
const (
	refTaskQueue        = "epcflow-bench-ceiling"
	ceilingWorkflowName = "BenchCeiling"
	noopActivityName    = "BenchNoop"
)

// ceilingWorkflow runs n no-op activities one after the other: the least work a workflow
// with an order's number of activities can do.
func ceilingWorkflow(ctx workflow.Context, n int) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second})
	for range n {
		if err := workflow.ExecuteActivity(ctx, noopActivityName).Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

func noop(context.Context) error { return nil }

// startRefWorker starts the worker of the reference workflows, with epcflow's worker
// options (worker.New's defaults), until the returned stop.
func (r *runner) startRefWorker() (stop func(), err error) {
	w := sdkworker.New(r.st.Client, refTaskQueue, sdkworker.Options{
		MaxConcurrentActivityExecutionSize:     200,
		MaxConcurrentWorkflowTaskExecutionSize: 100,
	})
	w.RegisterWorkflowWithOptions(ceilingWorkflow, workflow.RegisterOptions{Name: ceilingWorkflowName})
	w.RegisterWorkflowWithOptions(floorWorkflow, workflow.RegisterOptions{Name: floorWorkflowName})
	w.RegisterActivityWithOptions(noop, activity.RegisterOptions{Name: noopActivityName})
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("bench: reference worker: %w", err)
	}
	return w.Stop, nil
}

// ceiling runs the minimal workflow as many times, at the same rate, as the end-to-end phase
// ran orders.
func (r *runner) ceiling(ctx context.Context, activities int) (Reference, error) {
	fmt.Fprintf(r.progress, "bench: ceiling: %d workflows of %d no-op activities at %s\n", r.cfg.Orders, activities, rateText(r.cfg.Rate))
	c, err := r.reference(ctx, "ceiling", ceilingWorkflowName, func(ctx context.Context, id string) (client.WorkflowRun, error) {
		return r.st.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: refTaskQueue}, ceilingWorkflowName, activities)
	})
	c.ActivitiesPerOrder = activities
	return c, err
}

// startFunc starts one reference workflow with the given id.
type startFunc func(ctx context.Context, id string) (client.WorkflowRun, error)

// reference runs the configured number of workflows of one reference kind at the
// configured rate (after the warm-up ones) and measures them as the end-to-end phase is.
func (r *runner) reference(ctx context.Context, kind, workflowName string, start startFunc) (Reference, error) {
	closed := closedQuery(workflowName)
	before, err := r.count(ctx, closed)
	if err != nil {
		return Reference{}, fmt.Errorf("bench: %s: %w", kind, err)
	}
	if n := r.cfg.Warmup; n > 0 {
		if _, _, err := r.startRefs(ctx, kind, "warmup", n, -1, start); err != nil {
			return Reference{}, fmt.Errorf("bench: %s warm-up: %w", kind, err)
		}
	}
	n := r.cfg.Orders
	meter, err := r.startCPU()
	if err != nil {
		return Reference{}, err
	}
	starts, ends, err := r.startRefs(ctx, kind, "run", n, r.cfg.Rate, start)
	if err != nil {
		return Reference{}, fmt.Errorf("bench: %s: %w", kind, err)
	}
	lag, err := r.settle(ctx, closed, before+int64(n+r.cfg.Warmup))
	if err != nil {
		return Reference{}, fmt.Errorf("bench: %s: %w", kind, err)
	}
	// After settling: the visibility records are part of the workflows' cost.
	cpu, err := meter.since(n)
	if err != nil {
		return Reference{}, err
	}
	lat := make([]time.Duration, n)
	for i := range n {
		lat[i] = ends[i].Sub(starts[i])
	}
	wall := slices.MaxFunc(ends, time.Time.Compare).Sub(slices.MinFunc(starts, time.Time.Compare))
	counts, err := r.historyCounts(ctx, r.refID(kind, "run", 0))
	if err != nil {
		return Reference{}, fmt.Errorf("bench: %s: %w", kind, err)
	}
	c := Reference{
		Workflows: n, ActivitiesPerOrder: counts.Activities,
		Throughput: round2(float64(n) / wall.Seconds()), WallMs: ms(wall),
		Latency: summarize(slices.Clone(lat)), HistoryEventsPerFlow: counts.Events,
		ActionsPerFlow: counts.Actions(), Counts: counts,
		CPU: cpu, VisibilityLagMs: ms(lag), latencies: lat,
	}
	fmt.Fprintf(r.progress, "bench: %s: %.1f workflows/s, p50 %.1f ms, p99 %.1f ms; %.1f ms CPU, %d actions, %d events per workflow\n",
		kind, c.Throughput, c.Latency.P50, c.Latency.P99, c.CPU.PerOrderMs, c.ActionsPerFlow, c.HistoryEventsPerFlow)
	return c, nil
}

func (r *runner) refID(kind, batch string, i int) string {
	return fmt.Sprintf("bench-%s-%s-%s-%d", kind, r.runID, batch, i)
}

// startRefs starts n reference workflows on schedule and waits for their results; it returns
// when each was started and when its result arrived.
func (r *runner) startRefs(ctx context.Context, kind, batch string, n int, rate float64, start startFunc) (starts, ends []time.Time, err error) {
	starts, ends = make([]time.Time, n), make([]time.Time, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	perr := pace(ctx, n, rate, func(i int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			starts[i] = time.Now()
			run, err := start(ctx, r.refID(kind, batch, i))
			if err == nil {
				err = run.Get(ctx, nil)
			}
			ends[i] = time.Now()
			errs[i] = err
		}()
	})
	wg.Wait()
	return starts, ends, errors.Join(append(errs, perr)...)
}
