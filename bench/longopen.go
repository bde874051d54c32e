package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/epcflow/epcflow/demo"
	"github.com/epcflow/epcflow/internal/histstats"
	"github.com/epcflow/epcflow/replay"
	"github.com/epcflow/epcflow/starter"
	"github.com/epcflow/epcflow/workflows"
)

// Defaults of the long-open Appraisal measurement.
const (
	DefaultLongOpenWebhooks = 500
	DefaultDay              = 4 * time.Second
)

// LongOpen is one Appraisal order left open for days, waiting for its appraiser, with a
// progress note a day and webhooks from the lender: what its history grows to.
//
// Time is compressed, not skipped: the Temporal server has no clock to move, and the SDK's
// time-skipping test environment keeps no history to weigh, so the real workflow runs on the
// real stack (server, worker, activities, sandbox) with a day lasting Config.Day and the
// worker's recheck interval scaled alike (6 h = a quarter day). An order waiting for its
// appraiser has no other timer, so its history holds what the same days would write; only
// the timestamps differ.
type LongOpen struct {
	Days     int     `json:"days"`
	DayMs    float64 `json:"dayMs"` // how long a day lasted
	Notes    int     `json:"progressNotes"`
	Webhooks int     `json:"webhooks"` // relayed to the API while it waited (the lender's updates and the echoes of the notes)
	Updates  int     `json:"lenderUpdates"`
	// Runs is how many runs the order's workflow id had (more than one after continue-as-new).
	Runs int `json:"runs"`
	// Total is every run's history added up; Largest is the largest run's.
	Total   histstats.Counts `json:"total"`
	Largest histstats.Counts `json:"largestRun"`
	// Actions is Total.Actions().
	Actions int `json:"actions"`
}

// longOpen places one Appraisal order, lets it reach the wait for its appraiser, then for
// days sends a progress note a day and lender request updates spread evenly, enough for
// webhooks webhooks to reach the API, and weighs the order's histories.
func (r *runner) longOpen(ctx context.Context, days, webhooks int, day time.Duration) (*LongOpen, error) {
	o, err := r.lender.PlaceOrder(ctx, demo.SampleOrder(workflows.TypeAppraisal, "BENCH-LONG-000001", "1 Harbor Way"))
	if err != nil {
		return nil, fmt.Errorf("bench: long open: %w", err)
	}
	query := fmt.Sprintf("%s = '%s' AND %s = '%s' AND %s = '%s' AND ExecutionStatus = 'Running'",
		workflows.SATransactionID.GetName(), o.ID, workflows.SAStage.GetName(), workflows.StageAwaitSchedule,
		workflows.SAPartnerStatus.GetName(), schedulingStatus)
	if err := r.waitCount(ctx, query, 1); err != nil {
		return nil, fmt.Errorf("bench: long open: waiting for the appraiser: %w", err)
	}
	if err := r.sb.WaitIdle(ctx); err != nil {
		return nil, fmt.Errorf("bench: long open: %w", err)
	}
	var relayed samples
	r.sink.setRecorder(relayed.add, nil)
	defer r.sink.setRecorder(nil, nil)

	period := time.Duration(days) * day
	fmt.Fprintf(r.progress, "bench: long open: order %s waits for its appraiser; %d days of %s: a note a day, %d webhooks\n", o.ID, days, day, webhooks)
	st := starter.New(r.st.Client)
	lo := &LongOpen{Days: days, DayMs: ms(day)}
	t0 := time.Now()
	tick := time.NewTicker(period / time.Duration(webhooks))
	defer tick.Stop()
	for k := 1; k <= webhooks; k++ {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("bench: long open: %w", ctx.Err())
		case <-tick.C:
		}
		if d := int(time.Since(t0) / day); d > lo.Notes && lo.Notes < days {
			lo.Notes++
			note := workflows.ProgressInput{Text: fmt.Sprintf("Day %d: appraiser not yet assigned", lo.Notes), Actor: "bench"}
			if _, err := st.Progress(ctx, o.ID, note); err != nil {
				return nil, fmt.Errorf("bench: long open: progress note %d: %w", lo.Notes, err)
			}
		}
		// The lender updates its request whenever fewer webhooks than due reached the API
		// (an update brings one or more).
		if len(relayed.snapshot()) < k {
			patch, _ := json.Marshal(map[string]any{"loan": map[string]any{"property": map[string]any{"streetAddress": fmt.Sprintf("%d Harbor Way", 1+k%2)}}})
			if err := r.lender.UpdateRequest(ctx, o.ID, patch); err != nil {
				return nil, fmt.Errorf("bench: long open: lender update %d: %w", lo.Updates+1, err)
			}
			lo.Updates++
		}
		if k%50 == 0 {
			fmt.Fprintf(r.progress, "bench: long open: day %d, %d webhooks, %d notes\n", int(time.Since(t0)/day), len(relayed.snapshot()), lo.Notes)
		}
	}
	for lo.Notes < days {
		lo.Notes++
		if _, err := st.Progress(ctx, o.ID, workflows.ProgressInput{Text: fmt.Sprintf("Day %d: appraiser not yet assigned", lo.Notes), Actor: "bench"}); err != nil {
			return nil, fmt.Errorf("bench: long open: progress note %d: %w", lo.Notes, err)
		}
	}
	if err := r.sb.WaitIdle(ctx); err != nil {
		return nil, fmt.Errorf("bench: long open: %w", err)
	}
	if err := r.waitQuiet(ctx, workflows.TransactionWorkflowID(o.ID)); err != nil {
		return nil, fmt.Errorf("bench: long open: %w", err)
	}
	lo.Webhooks = len(relayed.snapshot())
	if err := r.weighRuns(ctx, workflows.TransactionWorkflowID(o.ID), lo); err != nil {
		return nil, fmt.Errorf("bench: long open: %w", err)
	}
	fmt.Fprintf(r.progress, "bench: long open: %d days: %d runs, %d events, %d bytes, %d actions (largest run %d events, %d bytes)\n",
		days, lo.Runs, lo.Total.Events, lo.Total.Bytes, lo.Actions, lo.Largest.Events, lo.Largest.Bytes)
	return lo, nil
}

// waitQuiet waits until a workflow has no activity and no workflow task pending.
func (r *runner) waitQuiet(ctx context.Context, workflowID string) error {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		d, err := r.st.Client.DescribeWorkflowExecution(ctx, workflowID, "")
		if err != nil {
			return err
		}
		if len(d.GetPendingActivities()) == 0 && d.GetPendingWorkflowTask() == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// weighRuns counts the histories of every run of a workflow id.
func (r *runner) weighRuns(ctx context.Context, workflowID string, lo *LongOpen) error {
	var token []byte
	for {
		resp, err := r.st.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf("WorkflowId = '%s'", workflowID), NextPageToken: token,
		})
		if err != nil {
			return err
		}
		for _, e := range resp.GetExecutions() {
			h, err := replay.History(ctx, r.st.Client, workflowID, e.GetExecution().GetRunId())
			if err != nil {
				return err
			}
			c := histstats.Of(h)
			lo.Runs++
			lo.Total = lo.Total.Add(c)
			if c.Bytes > lo.Largest.Bytes {
				lo.Largest = c
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	lo.Actions = lo.Total.Actions()
	return nil
}

// waitCount waits until visibility counts at least want workflows matching query.
func (r *runner) waitCount(ctx context.Context, query string, want int64) error {
	_, err := r.settle(ctx, query, want)
	return err
}
