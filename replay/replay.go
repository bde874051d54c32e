// Package replay replays recorded workflow histories against this build's workflow code, so a
// change that breaks determinism is caught before it reaches running orders.
package replay

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/epcflow/epcflow/codec"
	"github.com/epcflow/epcflow/worker"
	"github.com/epcflow/epcflow/workflows"
)

// Result is the outcome of replaying one history.
type Result struct {
	Name string
	Err  error
}

// newReplayer builds a replayer decoding payloads with dc (nil: the SDK default). With a data
// converter, failures are read as the codec package writes them (messages encoded).
func newReplayer(dc converter.DataConverter) (sdkworker.WorkflowReplayer, error) {
	var opts sdkworker.WorkflowReplayerOptions
	if dc != nil {
		opts.DataConverter, opts.FailureConverter = dc, codec.FailureConverter(dc)
	}
	r, err := sdkworker.NewWorkflowReplayerWithOptions(opts)
	if err != nil {
		return nil, err
	}
	worker.Register(r, worker.Deps{})
	return r, nil
}

// Files replays history JSON files. dc is the data converter the histories were written with
// (nil: the SDK default); with codec.DataConverter and the right keys, encrypted histories
// replay.
func Files(log *slog.Logger, paths []string, dc converter.DataConverter) []Result {
	r, err := newReplayer(dc)
	if err != nil {
		return []Result{{Name: "replayer", Err: err}}
	}
	logger := sdklog.NewStructuredLogger(log)
	var out []Result
	for _, p := range paths {
		out = append(out, Result{Name: filepath.Base(p), Err: replayFile(r, logger, p)})
	}
	return out
}

func replayFile(r sdkworker.WorkflowReplayer, logger sdklog.Logger, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		return fmt.Errorf("read history %s: %w", path, err)
	}
	return explain(r.ReplayWorkflowHistory(logger, h), h)
}

// explain adds to the failed replay of an encrypted history the key ids it needs: without
// them the SDK reports only a confusing non-determinism.
func explain(err error, h *historypb.History) error {
	if err == nil {
		return nil
	}
	ids := map[string]bool{}
	for _, ev := range h.GetEvents() {
		keyIDs(ev.ProtoReflect(), ids)
	}
	if len(ids) == 0 {
		return err
	}
	return fmt.Errorf("%w (this history's payloads are encrypted with key id %s: replay needs those keys, e.g. in --codec-keys)",
		err, strings.Join(slices.Sorted(maps.Keys(ids)), ", "))
}

// keyIDs collects the encryption key ids of the payloads anywhere in m.
func keyIDs(m protoreflect.Message, ids map[string]bool) {
	if p, ok := m.Interface().(*commonpb.Payload); ok {
		if string(p.GetMetadata()[converter.MetadataEncoding]) == codec.Encoding {
			ids[string(p.GetMetadata()[codec.MetadataKeyID])] = true
		}
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Kind() != protoreflect.MessageKind:
		case fd.IsList():
			for i, l := 0, v.List(); i < l.Len(); i++ {
				keyIDs(l.Get(i).Message(), ids)
			}
		case fd.IsMap():
			if fd.MapValue().Kind() == protoreflect.MessageKind {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					keyIDs(mv.Message(), ids)
					return true
				})
			}
		default:
			keyIDs(v.Message(), ids)
		}
		return true
	})
}

// Recent replays the most recent executions a server holds (all epcflow workflow types
// unless query selects others). dc decodes their payloads, as in Files.
func Recent(ctx context.Context, log *slog.Logger, c client.Client, query string, limit int, dc converter.DataConverter) ([]Result, error) {
	if query == "" {
		query = fmt.Sprintf("WorkflowType = '%s'", workflows.TransactionWorkflowName)
	}
	r, err := newReplayer(dc)
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
			h, err := History(ctx, c, we.GetWorkflowId(), we.GetRunId())
			if err != nil {
				out = append(out, Result{Name: name, Err: err})
				continue
			}
			out = append(out, Result{Name: name, Err: explain(r.ReplayWorkflowHistory(logger, h), h)})
		}
		token = resp.NextPageToken
		if len(token) == 0 {
			break
		}
	}
	return out, nil
}

// History fetches a whole execution history (runID "": the latest run), as the replayer and
// the tests that record histories read it.
func History(ctx context.Context, c client.Client, workflowID, runID string) (*historypb.History, error) {
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
