// Package replay replays recorded workflow histories against this build's workflow code, so a
// change that breaks determinism is caught before it reaches running orders.
package replay

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/epcflow/epcflow/workflows"
)

// Result is the outcome of replaying one history.
type Result struct {
	Name string
	Err  error
}

func newReplayer() (sdkworker.WorkflowReplayer, error) {
	r, err := sdkworker.NewWorkflowReplayerWithOptions(sdkworker.WorkflowReplayerOptions{})
	if err != nil {
		return nil, err
	}
	r.RegisterWorkflowWithOptions(workflows.NewEngine().Transaction, workflow.RegisterOptions{Name: workflows.TransactionWorkflowName})
	return r, nil
}

// Files replays history JSON files.
func Files(log *slog.Logger, paths []string) []Result {
	r, err := newReplayer()
	if err != nil {
		return []Result{{Name: "replayer", Err: err}}
	}
	logger := sdklog.NewStructuredLogger(log)
	var out []Result
	for _, p := range paths {
		err := r.ReplayWorkflowHistoryFromJSONFile(logger, p)
		out = append(out, Result{Name: filepath.Base(p), Err: err})
	}
	return out
}

// Recent replays the most recent executions a server holds (all epcflow workflow types
// unless query selects others).
func Recent(ctx context.Context, log *slog.Logger, c client.Client, query string, limit int) ([]Result, error) {
	if query == "" {
		query = fmt.Sprintf("WorkflowType = '%s'", workflows.TransactionWorkflowName)
	}
	r, err := newReplayer()
	if err != nil {
		return nil, err
	}
	logger := sdklog.NewStructuredLogger(log)
	var out []Result
	var token []byte
	for len(out) < limit {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, PageSize: int32(min(limit, 100)), NextPageToken: token})
		if err != nil {
			return nil, fmt.Errorf("list executions: %w", err)
		}
		for _, ex := range resp.Executions {
			if len(out) >= limit {
				break
			}
			we := ex.GetExecution()
			name := we.GetWorkflowId() + "/" + we.GetRunId()
			h, err := history(ctx, c, we.GetWorkflowId(), we.GetRunId())
			if err != nil {
				out = append(out, Result{Name: name, Err: err})
				continue
			}
			out = append(out, Result{Name: name, Err: r.ReplayWorkflowHistory(logger, h)})
		}
		token = resp.NextPageToken
		if len(token) == 0 {
			break
		}
	}
	return out, nil
}

// history fetches a whole execution history.
func history(ctx context.Context, c client.Client, workflowID, runID string) (*historypb.History, error) {
	it := c.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("history of %s: %w", workflowID, err)
		}
		h.Events = append(h.Events, ev)
	}
	return h, nil
}
