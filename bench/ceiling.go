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

// Names and task queue of the ceiling workflow, apart from epcflow's.
const (
	ceilingTaskQueue    = "epcflow-bench-ceiling"
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

// ceiling runs the minimal workflow as many times, at the same rate, as the end-to-end phase
// ran orders, on a worker with epcflow's worker options (worker.New's defaults).
func (r *runner) ceiling(ctx context.Context, activities int) (Ceiling, error) {
	w := sdkworker.New(r.st.Client, ceilingTaskQueue, sdkworker.Options{
		MaxConcurrentActivityExecutionSize:     200,
		MaxConcurrentWorkflowTaskExecutionSize: 100,
	})
	w.RegisterWorkflowWithOptions(ceilingWorkflow, workflow.RegisterOptions{Name: ceilingWorkflowName})
	w.RegisterActivityWithOptions(noop, activity.RegisterOptions{Name: noopActivityName})
	if err := w.Start(); err != nil {
		return Ceiling{}, fmt.Errorf("bench: ceiling worker: %w", err)
	}
	defer w.Stop()

	closed := closedQuery(ceilingWorkflowName)
	before, err := r.count(ctx, closed)
	if err != nil {
		return Ceiling{}, fmt.Errorf("bench: ceiling: %w", err)
	}
	if n := r.cfg.Warmup; n > 0 {
		if _, _, err := r.startCeiling(ctx, "warmup", n, -1, activities); err != nil {
			return Ceiling{}, fmt.Errorf("bench: ceiling warm-up: %w", err)
		}
	}
	n := r.cfg.Orders
	fmt.Fprintf(r.progress, "bench: ceiling: %d workflows of %d no-op activities at %s\n", n, activities, rateText(r.cfg.Rate))
	meter, err := r.startCPU()
	if err != nil {
		return Ceiling{}, err
	}
	starts, ends, err := r.startCeiling(ctx, "run", n, r.cfg.Rate, activities)
	if err != nil {
		return Ceiling{}, fmt.Errorf("bench: ceiling: %w", err)
	}
	lag, err := r.settle(ctx, closed, before+int64(n+r.cfg.Warmup))
	if err != nil {
		return Ceiling{}, fmt.Errorf("bench: ceiling: %w", err)
	}
	// After settling: the visibility records are part of the orders' cost.
	cpu, err := meter.since(n)
	if err != nil {
		return Ceiling{}, err
	}
	lat := make([]time.Duration, n)
	for i := range n {
		lat[i] = ends[i].Sub(starts[i])
	}
	wall := slices.MaxFunc(ends, time.Time.Compare).Sub(slices.MinFunc(starts, time.Time.Compare))
	events, _, err := r.historyShape(ctx, r.ceilingID("run", 0))
	if err != nil {
		return Ceiling{}, fmt.Errorf("bench: ceiling: %w", err)
	}
	c := Ceiling{
		Workflows: n, ActivitiesPerOrder: activities,
		Throughput: round2(float64(n) / wall.Seconds()), WallMs: ms(wall),
		Latency: summarize(slices.Clone(lat)), HistoryEventsPerFlow: events,
		CPU: cpu, VisibilityLagMs: ms(lag), latencies: lat,
	}
	fmt.Fprintf(r.progress, "bench: ceiling: %.1f workflows/s, p50 %.1f ms, p99 %.1f ms; %.1f ms CPU per workflow\n", c.Throughput, c.Latency.P50, c.Latency.P99, c.CPU.PerOrderMs)
	return c, nil
}

func (r *runner) ceilingID(batch string, i int) string {
	return fmt.Sprintf("bench-ceiling-%s-%s-%d", r.runID, batch, i)
}

// startCeiling starts n ceiling workflows on schedule and waits for their results; it returns
// when each was started and when its result arrived.
func (r *runner) startCeiling(ctx context.Context, batch string, n int, rate float64, activities int) (starts, ends []time.Time, err error) {
	starts, ends = make([]time.Time, n), make([]time.Time, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	perr := pace(ctx, n, rate, func(i int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			starts[i] = time.Now()
			run, err := r.st.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID: r.ceilingID(batch, i), TaskQueue: ceilingTaskQueue,
			}, ceilingWorkflowName, activities)
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
