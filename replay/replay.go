// Package replay replays recorded workflow histories against this build's workflow code, so a
// change that breaks determinism is caught before it reaches running workflows. It tells a
// history that does not replay (non-determinism) apart from one whose workflow type this
// build does not have and one it cannot read at all.
package replay

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
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

// Kind says how a history fared.
type Kind int

const (
	// OK: the history replays on this build.
	OK Kind = iota
	// NonDeterministic: this build's workflow code does not replay the history: it changed
	// without workflow.GetVersion (or fails on it). Running workflows of this kind would
	// break.
	NonDeterministic
	// UnknownType: the history's workflow type is not registered in this build.
	UnknownType
	// Unreadable: the history cannot be read: no such file, not a history, or payloads
	// encrypted with keys not given.
	Unreadable
)

func (k Kind) String() string {
	switch k {
	case OK:
		return "ok"
	case NonDeterministic:
		return "non-deterministic"
	case UnknownType:
		return "unknown workflow type"
	case Unreadable:
		return "unreadable"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Result is the outcome of replaying one history. Err is set unless Kind is OK.
type Result struct {
	Name string
	// Type is the history's workflow type, when it could be read.
	Type string
	Kind Kind
	Err  error
}

// newReplayer builds a replayer of every epcflow workflow, decoding payloads with dc (nil:
// the SDK default). With a data converter, failures are read as the codec package writes them
// (messages encoded).
func newReplayer(dc converter.DataConverter, eng *workflows.Engine) (sdkworker.WorkflowReplayer, error) {
	var opts sdkworker.WorkflowReplayerOptions
	if dc != nil {
		opts.DataConverter, opts.FailureConverter = dc, codec.FailureConverter(dc)
	}
	r, err := sdkworker.NewWorkflowReplayerWithOptions(opts)
	if err != nil {
		return nil, err
	}
	worker.Register(r, worker.Deps{Engine: eng})
	return r, nil
}

// Paths expands history paths: a file stands for itself, a directory for every *.json file
// under it (at any depth). A path that cannot be read gives an Unreadable result instead.
// Each file is listed once.
func Paths(paths []string) ([]string, []Result) {
	var files []string
	var bad []Result
	seen := map[string]bool{}
	add := func(p string) {
		if c := filepath.Clean(p); !seen[c] {
			seen[c] = true
			files = append(files, p)
		}
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		switch {
		case err != nil:
			bad = append(bad, Result{Name: p, Kind: Unreadable, Err: err})
		case !st.IsDir():
			add(p)
		default:
			err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() && strings.HasSuffix(d.Name(), ".json") {
					add(path)
				}
				return err
			})
			if err != nil {
				bad = append(bad, Result{Name: p, Kind: Unreadable, Err: err})
			}
		}
	}
	return files, bad
}

// Files replays history JSON files (as `temporal workflow show --output json` writes them).
// dc is the data converter the histories were written with (nil: the SDK default); with
// codec.DataConverter and the right keys, encrypted histories replay.
func Files(log *slog.Logger, paths []string, dc converter.DataConverter) []Result {
	return FilesWith(log, paths, dc, nil)
}

// FilesWith is Files with the transaction workflow's engine configured as eng (nil: the
// default), e.g. another vocabulary: a history replays whatever names the engine sends.
func FilesWith(log *slog.Logger, paths []string, dc converter.DataConverter, eng *workflows.Engine) []Result {
	r, err := newReplayer(dc, eng)
	if err != nil {
		return []Result{{Name: "replayer", Kind: Unreadable, Err: err}}
	}
	logger := sdklog.NewStructuredLogger(log)
	var out []Result
	for _, p := range paths {
		name := p
		h, err := readFile(p)
		if err != nil {
			out = append(out, Result{Name: name, Kind: Unreadable, Err: err})
			continue
		}
		out = append(out, replayOne(r, logger, name, h, dc))
	}
	return out
}

func readFile(path string) (*historypb.History, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		return nil, fmt.Errorf("read history %s: %w", path, err)
	}
	return h, nil
}

// replayOne replays h after checking that it can: its workflow type is registered and its
// payloads can be decoded.
func replayOne(r sdkworker.WorkflowReplayer, logger sdklog.Logger, name string, h *historypb.History, dc converter.DataConverter) Result {
	started := h.GetEvents()
	if len(started) == 0 || started[0].GetWorkflowExecutionStartedEventAttributes() == nil {
		return Result{Name: name, Kind: Unreadable, Err: errors.New("not a workflow history: it does not begin with WorkflowExecutionStarted")}
	}
	typ := started[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowType().GetName()
	res := Result{Name: name, Type: typ}
	if !slices.Contains(workflows.WorkflowNames(), typ) {
		res.Kind, res.Err = UnknownType, fmt.Errorf("workflow type %q is not registered in this build (it has %s)",
			typ, strings.Join(workflows.WorkflowNames(), ", "))
		return res
	}
	if err := decodable(h, dc); err != nil {
		res.Kind, res.Err = Unreadable, err
		return res
	}
	if err := r.ReplayWorkflowHistory(logger, h); err != nil {
		res.Kind, res.Err = NonDeterministic, err
	}
	return res
}

// decodable checks that every encrypted payload of h can be decrypted with dc: without the
// right keys the SDK would report a confusing non-determinism.
func decodable(h *historypb.History, dc converter.DataConverter) error {
	ids := map[string]bool{}
	var failed error
	for _, ev := range h.GetEvents() {
		payloads(ev.ProtoReflect(), func(p *commonpb.Payload) {
			if string(p.GetMetadata()[converter.MetadataEncoding]) != codec.Encoding {
				return
			}
			ids[string(p.GetMetadata()[codec.MetadataKeyID])] = true
			if failed != nil {
				return
			}
			if dc == nil {
				failed = errors.New("no payload keys given")
				return
			}
			var v any
			if err := dc.FromPayload(p, &v); errors.Is(err, codec.ErrUnknownKey) || errors.Is(err, codec.ErrDecrypt) {
				failed = err
			}
		})
	}
	if failed == nil {
		return nil
	}
	return fmt.Errorf("%w (this history's payloads are encrypted with key id %s: replay needs those keys, e.g. in --codec-keys)",
		failed, strings.Join(slices.Sorted(maps.Keys(ids)), ", "))
}

// payloads calls f with every payload anywhere in m.
func payloads(m protoreflect.Message, f func(*commonpb.Payload)) {
	if p, ok := m.Interface().(*commonpb.Payload); ok {
		f(p)
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Kind() != protoreflect.MessageKind:
		case fd.IsList():
			for i, l := 0, v.List(); i < l.Len(); i++ {
				payloads(l.Get(i).Message(), f)
			}
		case fd.IsMap():
			if fd.MapValue().Kind() == protoreflect.MessageKind {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					payloads(mv.Message(), f)
					return true
				})
			}
		default:
			payloads(v.Message(), f)
		}
		return true
	})
}

// DefaultQuery selects the executions of every epcflow workflow type.
func DefaultQuery() string {
	var or []string
	for _, name := range workflows.WorkflowNames() {
		or = append(or, fmt.Sprintf("WorkflowType = '%s'", name))
	}
	return strings.Join(or, " OR ")
}

// Recent replays the most recent executions a server holds (those of every epcflow workflow
// type unless query selects others). dc decodes their payloads, as in Files.
func Recent(ctx context.Context, log *slog.Logger, c client.Client, query string, limit int, dc converter.DataConverter) ([]Result, error) {
	if query == "" {
		query = DefaultQuery()
	}
	r, err := newReplayer(dc, nil)
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
				out = append(out, Result{Name: name, Type: ex.GetType().GetName(), Kind: Unreadable, Err: err})
				continue
			}
			out = append(out, replayOne(r, logger, name, h, dc))
		}
		token = resp.NextPageToken
		if len(token) == 0 {
			break
		}
	}
	return out, nil
}

// History fetches a whole execution history (runID "": the latest run): the one way epcflow
// reads a history, for the replayer, the tests that record histories and the benchmark.
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
