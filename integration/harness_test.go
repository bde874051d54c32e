// Package integration runs epcflow end to end: a real Temporal server in process, the sandbox
// and the API over real HTTP, the worker with real activities.
package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/epcflow/epcflow/demo"
	"github.com/epcflow/epcflow/devserver"
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/internal/testkit"
	"github.com/epcflow/epcflow/replay"
	"github.com/epcflow/epcflow/sandbox"
	"github.com/epcflow/epcflow/stack"
	"github.com/epcflow/epcflow/vocab"
	"github.com/epcflow/epcflow/workflows"
)

// updateHistories, when set, writes the histories of these runs to workflows/testdata/histories
// for the replay test: EPCFLOW_UPDATE_HISTORIES=1 go test ./integration/
var updateHistories = os.Getenv("EPCFLOW_UPDATE_HISTORIES") != ""

// temporalDBEnv names a PostgreSQL server for Temporal, as a base URL
// (postgres://postgres@127.0.0.1:5432/?sslmode=disable): every stack of these tests then gets
// a database of its own there. Unset, they run on SQLite (in memory unless a test names a file).
const temporalDBEnv = "EPCFLOW_TEST_TEMPORAL_DB"

// freshTemporalDB returns a URL for a new database on the server named by temporalDBEnv,
// dropped (with its _visibility database) when the test ends; "" when the variable is unset.
func freshTemporalDB(t *testing.T) string {
	t.Helper()
	base := os.Getenv(temporalDBEnv)
	if base == "" {
		return ""
	}
	require.True(t, devserver.IsPostgres(base), "%s: want a postgres:// URL", temporalDBEnv)
	u, err := url.Parse(base)
	require.NoError(t, err, temporalDBEnv)
	u.Path = "/epcflow_it_" + strconv.FormatUint(rand.Uint64(), 36)
	dbURL := u.String()
	// Registered before the stack's own cleanup, so it runs after the stack has stopped.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := devserver.DropPostgres(ctx, dbURL); err != nil {
			t.Errorf("drop the test database: %v", err)
		}
	})
	return dbURL
}

// env is the one harness of every integration test: a stack (embedded Temporal server, the
// sandbox, the worker with every workflow and activity registered, the API over real HTTP),
// a lender acting in the sandbox and an operator calling the API.
type env struct {
	t        *testing.T
	st       *stack.Stack
	lender   *demo.Lender
	operator *demo.Operator
}

// place places an order as the lender; the test fails if the sandbox refuses it.
func (e *env) place(ctx context.Context, req demo.OrderRequest) demo.Order {
	e.t.Helper()
	o, err := e.lender.PlaceOrder(ctx, req)
	require.NoError(e.t, err)
	return o
}

// cancel has the lender cancel the order, waits for its workflow to end canceled and returns
// the sandbox's record of it, canceled too.
func (e *env) cancel(ctx context.Context, txID string) sandbox.TransactionRecord {
	e.t.Helper()
	require.NoError(e.t, e.lender.Cancel(ctx, txID, "borrower withdrew"))
	require.Equal(e.t, epc.StatusCanceled, e.await(ctx, txID).ResponseStatus)
	v := e.view(ctx, txID)
	require.Equal(e.t, epc.StatusCanceled, v.Response.Status)
	return v
}

// appraise has the operator schedule the order's inspection and deliver a report appraising
// value, waits for its workflow to complete and returns the sandbox's record of it: patched
// processing then completed, one inspection scheduled, one report uploaded.
func (e *env) appraise(ctx context.Context, txID string, value int64) sandbox.TransactionRecord {
	e.t.Helper()
	require.NoError(e.t, demo.Appraise(ctx, e.operator, txID, time.Millisecond, time.Millisecond, value))
	require.Equal(e.t, epc.StatusCompleted, e.await(ctx, txID).ResponseStatus)
	v := e.view(ctx, txID)
	require.Equal(e.t, []string{"processing", "completed"}, nonEmpty(v.PatchStatuses()))
	require.Len(e.t, v.EventsOfType(vocab.Default().Get(vocab.EventAppraisalScheduled)), 1)
	require.Len(e.t, v.Resources, 1)
	return v
}

// needsTemporal skips the test under -short: it runs a real Temporal server.
func needsTemporal(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: runs a real Temporal server")
	}
}

// sharedEnv starts a stack with the default configuration for one test.
func sharedEnv(t *testing.T) *env {
	t.Helper()
	needsTemporal(t)
	return startStack(t, stack.Config{})
}

// startStack starts a stack for one test; it stops when the test ends.
func startStack(t *testing.T, cfg stack.Config) *env {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.DBPath == "" {
		cfg.DBPath = freshTemporalDB(t)
	}
	if cfg.DBPath == "" {
		cfg.DBPath = devserver.MemoryDB
	}
	if cfg.UIPort == 0 {
		cfg.UIPort = devserver.NoUI
	}
	if cfg.Sandbox.WebhookRetryInterval == 0 {
		cfg.Sandbox.WebhookRetryInterval = 200 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = testkit.Logger(t, slog.LevelWarn)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := stack.Start(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return &env{t: t, st: st, lender: demo.NewLender(st.SandboxURL), operator: demo.NewOperator(st.APIURL, cfg.OperatorToken)}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// await waits for the transaction's workflow to finish and returns its result.
func (e *env) await(ctx context.Context, txID string) workflows.TransactionResult {
	e.t.Helper()
	var res workflows.TransactionResult
	var err error
	// The workflow may not exist yet when the order was just placed: the webhook is on its way.
	for {
		err = e.st.Client.GetWorkflow(ctx, workflows.TransactionWorkflowID(txID), "").Get(ctx, &res)
		if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "not found") {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	require.NoError(e.t, err, "transaction %s did not finish", txID)
	return res
}

func (e *env) view(ctx context.Context, txID string) sandbox.TransactionRecord {
	e.t.Helper()
	raw, err := e.lender.Transaction(ctx, txID)
	require.NoError(e.t, err)
	var v sandbox.TransactionRecord
	require.NoError(e.t, json.Unmarshal(raw, &v), "sandbox view: %s", raw)
	return v
}

// waitView polls the sandbox's record until ok holds or ctx ends.
func (e *env) waitView(ctx context.Context, txID string, ok func(sandbox.TransactionRecord) bool) sandbox.TransactionRecord {
	e.t.Helper()
	for {
		v := e.view(ctx, txID)
		if ok(v) {
			return v
		}
		select {
		case <-ctx.Done():
			e.t.Fatalf("transaction %s: sandbox never reached the expected state; last PATCH statuses %v", txID, v.PatchStatuses())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// postWebhook sends a webhook body to the API, signed with key.
func (e *env) postWebhook(body []byte, key string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.st.APIURL+"/webhooks/epc", bytes.NewReader(body))
	require.NoError(e.t, err)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Elli-Signature", epc.Sign(key, body))
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func webhookBody(eventType, resourceType, resourceID, ref string) []byte {
	b, _ := json.Marshal(epc.Webhook{
		EventID: fmt.Sprintf("%s-%s-%d", eventType, resourceID, time.Now().UnixNano()), EventTime: time.Now().UTC().Truncate(time.Second),
		EventType: eventType, Meta: epc.WebhookMeta{ResourceType: resourceType, ResourceID: resourceID, InstanceID: "sandbox-product", ResourceRef: ref},
	})
	return b
}

// executions counts the runs of a transaction's workflow.
func (e *env) executions(ctx context.Context, txID string) int {
	e.t.Helper()
	n := 0
	var token []byte
	for {
		resp, err := e.st.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: fmt.Sprintf("WorkflowId = '%s'", workflows.TransactionWorkflowID(txID)), NextPageToken: token})
		require.NoError(e.t, err)
		n += len(resp.Executions)
		if token = resp.NextPageToken; len(token) == 0 {
			return n
		}
	}
}

// saveHistory writes a workflow's history to workflows/testdata/histories/<flow>/<name>.json
// for the replay test, when updating histories.
func (e *env) saveHistory(ctx context.Context, flow, workflowID, name string) {
	e.t.Helper()
	if !updateHistories {
		return
	}
	writeHistory(e.t, historiesDir(flow), name, e.historyOf(ctx, workflowID, ""))
}

// historiesDir is where the histories of a flow are kept for the replay test.
func historiesDir(flow string) string {
	return filepath.Join("..", "workflows", "testdata", "histories", flow)
}

// historyOf reads a workflow run's whole history (runID "": the latest run).
func (e *env) historyOf(ctx context.Context, workflowID, runID string) *historypb.History {
	e.t.Helper()
	h, err := replay.History(ctx, e.st.Client, workflowID, runID)
	require.NoError(e.t, err)
	return h
}

// writeHistory writes h as dir/name.json, in the JSON that `temporal workflow show --output
// json` writes and the replayer reads.
func writeHistory(t *testing.T, dir, name string, h *historypb.History) {
	t.Helper()
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(h)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".json"), b, 0o644))
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// postJSON posts body to url and decodes the answer into out (unless nil); the answer must
// be a success.
func postJSON(t *testing.T, ctx context.Context, url, body string, out any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader([]byte(body)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	require.Less(t, resp.StatusCode, 300, "POST %s: %d %s", url, resp.StatusCode, b)
	if out != nil {
		require.NoError(t, json.Unmarshal(b, out), string(b))
	}
}
