package starter

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/epcflow/epcflow/workflows"
)

// The hosted consumer sessions as the console lists them: each Delivery Room package and
// Inbank payment session with its state, a running one's from its status query, a finished
// one's from its result.

// SessionRow is a package's or payment session's workflow.
type SessionRow struct {
	WorkflowID, RunID string
	// ID is the workflow id without its flow's prefix: the package key or the session id.
	ID string
	// Status is the execution's: Running, Completed, TimedOut, …
	Status              string
	StartedAt, ClosedAt time.Time
	// StateErr says why the state could not be read (the row is still listed).
	StateErr string
}

// PackageRow is a Delivery Room package.
type PackageRow struct {
	SessionRow
	State workflows.PackageStatus
}

// PaymentRow is an Inbank payment session.
type PaymentRow struct {
	SessionRow
	State workflows.PaymentStatus
}

// statesAtOnce bounds the state reads in flight for one page.
const statesAtOnce = 4

// Packages lists a page of Delivery Room packages, the most recent first.
func (c *Console) Packages(ctx context.Context, size int, token []byte) ([]PackageRow, []byte, error) {
	rows, next, err := c.sessions(ctx, workflows.PackageWorkflowName, "pos-package-", size, token)
	out := make([]PackageRow, len(rows))
	c.states(ctx, len(rows), func(i int) {
		out[i].SessionRow = rows[i]
		out[i].StateErr = c.state(ctx, rows[i], &out[i].State)
	})
	return out, next, err
}

// Payments lists a page of Inbank payment sessions, the most recent first.
func (c *Console) Payments(ctx context.Context, size int, token []byte) ([]PaymentRow, []byte, error) {
	rows, next, err := c.sessions(ctx, workflows.PaymentWorkflowName, workflows.PaymentWorkflowID(""), size, token)
	out := make([]PaymentRow, len(rows))
	c.states(ctx, len(rows), func(i int) {
		out[i].SessionRow = rows[i]
		out[i].StateErr = c.state(ctx, rows[i], &out[i].State)
	})
	return out, next, err
}

func (c *Console) sessions(ctx context.Context, workflowType, prefix string, size int, token []byte) ([]SessionRow, []byte, error) {
	resp, err := c.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		PageSize: int32(size), NextPageToken: token, Query: "WorkflowType = " + quote(workflowType),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("console: list %s: %w", workflowType, classify(err))
	}
	var rows []SessionRow
	for _, e := range resp.GetExecutions() {
		rows = append(rows, sessionRow(e, prefix))
	}
	return rows, resp.GetNextPageToken(), nil
}

func sessionRow(e *workflowpb.WorkflowExecutionInfo, prefix string) SessionRow {
	id := e.GetExecution().GetWorkflowId()
	r := SessionRow{
		WorkflowID: id, RunID: e.GetExecution().GetRunId(), ID: strings.TrimPrefix(id, prefix),
		Status: statusName(e.GetStatus()), StartedAt: e.GetStartTime().AsTime(),
	}
	if e.GetCloseTime() != nil {
		r.ClosedAt = e.GetCloseTime().AsTime()
	}
	return r
}

// states runs read(i) for i in [0, n), statesAtOnce at a time.
func (c *Console) states(ctx context.Context, n int, read func(i int)) {
	sem := make(chan struct{}, statesAtOnce)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			read(i)
		}()
	}
	wg.Wait()
}

// state reads a session's state into v: a running workflow's status query, a completed
// one's result. It returns why it could not ("" when it could).
func (c *Console) state(ctx context.Context, r SessionRow, v any) string {
	if r.Status == "Running" {
		q, err := c.Client.QueryWorkflow(ctx, r.WorkflowID, r.RunID, workflows.QueryStatus)
		if err == nil {
			err = q.Get(v)
		}
		if err != nil {
			return "state not available: " + err.Error()
		}
		return ""
	}
	it := c.Client.GetWorkflowHistory(ctx, r.WorkflowID, r.RunID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return "state not available: " + err.Error()
		}
		res := e.GetWorkflowExecutionCompletedEventAttributes().GetResult()
		if res == nil {
			return "the workflow ended " + r.Status + " without a result"
		}
		if err := c.DataConverter.FromPayloads(res, v); err != nil {
			return "state not readable: " + err.Error()
		}
		return ""
	}
	return "state not available: no close event"
}
