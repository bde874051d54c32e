//go:build !production

package devserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enums "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/epcflow/epcflow/devserver"
	"github.com/epcflow/epcflow/internal/testkit"
	"github.com/epcflow/epcflow/worker"
	"github.com/epcflow/epcflow/workflows"
)

const (
	taskQueue = "devserver-test"
	saName    = "DevserverTestKey"
)

var saKey = temporal.NewSearchAttributeKeyKeyword(saName)

func startServer(t *testing.T, cfg devserver.Config) *devserver.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	begin := time.Now()
	s, err := devserver.Start(ctx, cfg)
	require.NoError(t, err)
	t.Logf("devserver.Start took %s (frontend %s, UI %q)", time.Since(begin).Round(time.Millisecond), s.FrontendAddress(), s.UIURL())
	t.Cleanup(func() {
		begin := time.Now()
		assert.NoError(t, s.Stop())
		t.Logf("devserver.Stop took %s", time.Since(begin).Round(time.Millisecond))
	})
	return s
}

func dial(t *testing.T, s *devserver.Server, logger *slog.Logger) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{
		HostPort:  s.FrontendAddress(),
		Namespace: s.Namespace(),
		Logger:    sdklog.NewStructuredLogger(logger),
	})
	require.NoError(t, err)
	return c
}

// startWorker runs epcflow's own workflows (worker.Register) on the test's task queue.
func startWorker(t *testing.T, c client.Client) sdkworker.Worker {
	t.Helper()
	w := sdkworker.New(c, taskQueue, sdkworker.Options{})
	worker.Register(w, worker.Deps{})
	require.NoError(t, w.Start())
	return w
}

// startPackage starts a package workflow for recipients, tagged key in the test's search
// attribute unless key is empty.
func startPackage(ctx context.Context, t *testing.T, c client.Client, id, key string, recipients ...string) client.WorkflowRun {
	t.Helper()
	in := workflows.PackageInput{Key: id}
	for _, r := range recipients {
		in.Recipients = append(in.Recipients, workflows.PackageRecipient{RecipientID: r, Role: "borrower"})
	}
	opts := client.StartWorkflowOptions{ID: id, TaskQueue: taskQueue}
	if key != "" {
		opts.TypedSearchAttributes = temporal.NewSearchAttributes(saKey.ValueSet(key))
	}
	run, err := c.ExecuteWorkflow(ctx, opts, workflows.PackageWorkflowName, in)
	require.NoError(t, err)
	return run
}

func open(ctx context.Context, t *testing.T, c client.Client, run client.WorkflowRun, recipient, user string) {
	t.Helper()
	require.NoError(t, c.SignalWorkflow(ctx, run.GetID(), run.GetRunID(), workflows.SignalRecipientOpened,
		workflows.RecipientOpened{RecipientID: recipient, UserID: user}))
}

// openers lists who opened each recipient's copy, from the workflow's result.
func openers(ctx context.Context, t *testing.T, run client.WorkflowRun) map[string]string {
	t.Helper()
	var st workflows.PackageStatus
	require.NoError(t, run.Get(ctx, &st))
	got := map[string]string{}
	for _, r := range st.Recipients {
		got[r.RecipientID] = r.UserID
	}
	return got
}

func TestInMemoryServerRunsWorkflowsAndServesUI(t *testing.T) {
	logger := testkit.Logger(t, slog.LevelWarn)
	s := startServer(t, devserver.Config{
		DBPath:           devserver.MemoryDB,
		SearchAttributes: map[string]enums.IndexedValueType{saName: enums.INDEXED_VALUE_TYPE_KEYWORD},
		Logger:           logger,
	})
	require.Equal(t, "default", s.Namespace())
	require.NotEmpty(t, s.UIURL())

	c := dial(t, s, logger)
	defer c.Close()
	w := startWorker(t, c)
	defer w.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	begin := time.Now()
	run := startPackage(ctx, t, c, "package-1", "in memory", "r1")
	open(ctx, t, c, run, "r1", "u1")
	require.Equal(t, map[string]string{"r1": "u1"}, openers(ctx, t, run))
	t.Logf("package workflow with one signal: start to result in %s", time.Since(begin).Round(time.Millisecond))

	// Visibility is updated asynchronously after the start.
	query := saName + " = 'in memory'"
	assert.EventuallyWithT(t, func(ct *assert.CollectT) {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: s.Namespace(), Query: query})
		if !assert.NoError(ct, err) || !assert.Len(ct, resp.GetExecutions(), 1) {
			return
		}
		assert.Equal(ct, "package-1", resp.GetExecutions()[0].GetExecution().GetWorkflowId())
	}, 10*time.Second, 50*time.Millisecond, "query %q", query)

	t.Run("UI", func(t *testing.T) {
		page := httpGet(t, s.UIURL()+"/")
		assert.Contains(t, strings.ToLower(page), "<html")

		var list struct {
			Namespaces []struct {
				NamespaceInfo struct {
					Name string `json:"name"`
				} `json:"namespaceInfo"`
			} `json:"namespaces"`
		}
		require.NoError(t, json.Unmarshal([]byte(httpGet(t, s.UIURL()+"/api/v1/namespaces")), &list))
		var names []string
		for _, ns := range list.Namespaces {
			names = append(names, ns.NamespaceInfo.Name)
		}
		assert.Contains(t, names, "default")
	})
}

// TestOpeningAHistoryInTheUIIsQuiet: the UI reads histories in pages of 1,000 events, more
// than the frontend serves at once; the frontend's warning about it is nothing anyone can act
// on, so it stays out of the log at Warn.
func TestOpeningAHistoryInTheUIIsQuiet(t *testing.T) {
	logs := &testkit.Logs{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s := startServer(t, devserver.Config{DBPath: devserver.MemoryDB, Logger: logger})
	c := dial(t, s, testkit.Logger(t, slog.LevelWarn))
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run := startPackage(ctx, t, c, "opened-in-the-ui", "", "r1")
	// The UI's own calls when it opens a workflow's history.
	for _, route := range []string{"history", "history-reverse"} {
		httpGet(t, fmt.Sprintf("%s/api/v1/namespaces/%s/workflows/%s/%s?execution.runId=%s&waitNewEvent=false&maximumPageSize=1000",
			s.UIURL(), s.Namespace(), run.GetID(), route, run.GetRunID()))
	}
	assert.NotContains(t, logs.String(), "GetHistory page size", "warnings logged: %s", logs.String())
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s: %s", url, body)
	return string(body)
}

func TestFileServerKeepsWorkflowsAcrossRestart(t *testing.T) {
	logger := testkit.Logger(t, slog.LevelWarn)
	dbPath := filepath.Join(t.TempDir(), "state", "temporal.db")
	cfg := devserver.Config{
		DBPath:           dbPath,
		UIPort:           devserver.NoUI,
		SearchAttributes: map[string]enums.IndexedValueType{saName: enums.INDEXED_VALUE_TYPE_KEYWORD},
		Logger:           logger,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// First life: start the workflow and let it block on the signal.
	s1 := startServer(t, cfg)
	assert.Empty(t, s1.UIURL())
	info, err := os.Stat(filepath.Dir(dbPath))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), info.Mode().Perm())
	_, err = os.Stat(dbPath + "-wal")
	assert.NoError(t, err, "the database should run in WAL mode")

	c1 := dial(t, s1, logger)
	w1 := startWorker(t, c1)
	run := startPackage(ctx, t, c1, "wait-1", "file", "r1", "r2")
	open(ctx, t, c1, run, "r1", "before restart")
	waitSignalTaken(ctx, t, c1, run)
	w1.Stop()
	c1.Close()
	require.NoError(t, s1.Stop())

	// Second life on the same file, on new ports, with one more search attribute.
	cfg.SearchAttributes = map[string]enums.IndexedValueType{
		saName:            enums.INDEXED_VALUE_TYPE_KEYWORD,
		"DevserverAmount": enums.INDEXED_VALUE_TYPE_INT,
	}
	s2 := startServer(t, cfg)
	require.NotEqual(t, s1.FrontendAddress(), s2.FrontendAddress())
	c2 := dial(t, s2, logger)

	sas, err := c2.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: s2.Namespace()})
	require.NoError(t, err)
	assert.Equal(t, enums.INDEXED_VALUE_TYPE_KEYWORD, sas.GetCustomAttributes()[saName])
	assert.Equal(t, enums.INDEXED_VALUE_TYPE_INT, sas.GetCustomAttributes()["DevserverAmount"])

	w2 := startWorker(t, c2)
	begin := time.Now()
	open(ctx, t, c2, run, "r2", "after restart")
	assert.Equal(t, map[string]string{"r1": "before restart", "r2": "after restart"},
		openers(ctx, t, c2.GetWorkflow(ctx, run.GetID(), run.GetRunID())))
	t.Logf("signal to result after restart: %s", time.Since(begin).Round(time.Millisecond))
	w2.Stop()
	c2.Close()
	require.NoError(t, s2.Stop())

	// Third start asks for an existing attribute with another type.
	cfg.SearchAttributes = map[string]enums.IndexedValueType{saName: enums.INDEXED_VALUE_TYPE_INT}
	s3, err := devserver.Start(ctx, cfg)
	if s3 != nil {
		_ = s3.Stop()
	}
	require.Error(t, err)
	assert.Contains(t, err.Error(), `search attribute "DevserverTestKey": registered as Keyword, want Int`)
}

// waitSignalTaken follows the history (long poll) until the workflow task that took the
// first signal has completed: from then on the workflow's state holds it.
func waitSignalTaken(ctx context.Context, t *testing.T, c client.Client, run client.WorkflowRun) {
	t.Helper()
	it := c.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), true, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	signaled := false
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		switch ev.GetEventType() {
		case enums.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
			signaled = true
		case enums.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			if signaled {
				return
			}
		}
	}
	t.Fatal("workflow history ended before the workflow took the signal")
}

func TestStartRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  devserver.Config
		want string
	}{
		{"host not an IP", devserver.Config{Host: "localhost"}, `host "localhost": must be an IP address`},
		{"negative frontend port", devserver.Config{FrontendPort: -1}, "frontend port -1: out of range"},
		{"UI port too large", devserver.Config{UIPort: 70000}, "UI port 70000: out of range"},
		{"reserved search attribute", devserver.Config{SearchAttributes: map[string]enums.IndexedValueType{"WorkflowId": enums.INDEXED_VALUE_TYPE_KEYWORD}}, `search attribute "WorkflowId": name is reserved`},
		{"unspecified search attribute type", devserver.Config{SearchAttributes: map[string]enums.IndexedValueType{"Foo": enums.INDEXED_VALUE_TYPE_UNSPECIFIED}}, `search attribute "Foo": invalid type 0`},
		{"database path with query", devserver.Config{DBPath: filepath.Join(t.TempDir(), "x?y.db")}, "must not contain '?' or '#'"},
		{"postgres URL without database", devserver.Config{DBPath: "postgres://u:pw@127.0.0.1:5432/"}, "postgres URL postgres://u:xxxxx@127.0.0.1:5432/: database name missing"},
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	busyErr := fmt.Sprintf("port %d on 127.0.0.1 is not available", busyPort)
	tests = append(tests, []struct {
		name string
		cfg  devserver.Config
		want string
	}{
		{"frontend port in use", devserver.Config{DBPath: devserver.MemoryDB, FrontendPort: busyPort}, busyErr},
		{"UI port in use", devserver.Config{DBPath: devserver.MemoryDB, UIPort: busyPort}, busyErr},
	}...)

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := devserver.Start(context.Background(), tt.cfg)
			if s != nil {
				_ = s.Stop()
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// TestServerIgnoresEpcflowsTracingSettings: the OTEL_* variables configure epcflow's tracing
// in the process that embeds the server; values the server itself would refuse
// (console, http/protobuf) do not stop it from starting.
func TestServerIgnoresEpcflowsTracingSettings(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal server")
	}
	t.Setenv("OTEL_TRACES_EXPORTER", "console,otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf")
	s := startServer(t, devserver.Config{DBPath: devserver.MemoryDB, UIPort: devserver.NoUI, Logger: testkit.Logger(t, slog.LevelWarn)})
	require.NotEmpty(t, s.FrontendAddress())
}
