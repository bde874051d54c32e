package bench_test

import (
	"context"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/bench"
	"github.com/epcflow/epcflow/cli"
)

// childWorkerEnv makes this test binary act as the epcflow command, so the benchmark can run
// its worker as a child process (`<test binary> worker …`) as `epcflow bench` does.
const childWorkerEnv = "EPCFLOW_BENCH_TEST_AS_EPCFLOW"

func TestMain(m *testing.M) {
	cli.RunIfChild(childWorkerEnv)
	os.Exit(m.Run())
}

func config(tb testing.TB, orders int) bench.Config {
	tb.Helper()
	exe, err := os.Executable()
	require.NoError(tb, err)
	return bench.Config{
		Orders: orders, Warmup: 1, DataDir: tb.TempDir(), Encrypt: true,
		WorkerCommand: []string{exe}, WorkerEnv: []string{childWorkerEnv + "=1"},
		Timeout: 3 * time.Minute,
	}
}

// smoke starts a smoke test of orders orders: skipped with -short, bounded as the run is.
func smoke(t *testing.T, orders int) (context.Context, bench.Config) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs a real Temporal server")
	}
	cfg := config(t, orders)
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	t.Cleanup(cancel)
	return ctx, cfg
}

var summaryLine = regexp.MustCompile(`^bench: e2e [0-9.]+/s, ceiling [0-9.]+/s, ratio [0-9.]+, floor [0-9.]+/s, floor ratio [0-9.]+, actions/order [0-9.]+, events/order [0-9.]+, webhook p99 [0-9.]+ ms, e2e p50 [0-9.]+ ms$`)

// TestBenchSmoke runs a tiny benchmark and checks the report is complete and every order
// completed. It never asserts timings: they depend on the machine.
func TestBenchSmoke(t *testing.T) {
	ctx, cfg := smoke(t, 10)
	cfg.Open = 3
	rep, err := bench.Run(ctx, cfg)
	require.NoError(t, err)

	e := rep.EndToEnd
	require.NotNil(t, e)
	require.Equal(t, 10, e.Completed)
	require.Equal(t, 10, e.Latency.Count)
	require.Equal(t, 10, e.WebhookCreated.Count, "one `created` webhook per order")
	require.GreaterOrEqual(t, e.Webhook.Count, 20, "the created webhooks and the sandbox's later ones")
	require.Positive(t, e.Throughput)
	require.Positive(t, e.History.Activities)
	require.Greater(t, e.History.Events, e.History.Activities)
	require.LessOrEqual(t, e.History.ActivitiesMin, e.History.Activities)
	require.GreaterOrEqual(t, e.History.ActivitiesMax, e.History.Activities)

	c := rep.Ceiling
	require.Equal(t, 10, c.Workflows)
	require.Equal(t, 10, c.Latency.Count)
	require.Equal(t, e.History.Activities, c.ActivitiesPerOrder, "the ceiling mirrors an order's activities")
	require.Positive(t, c.Throughput)
	require.Positive(t, rep.Ratio)
	require.Positive(t, rep.LatencyRatioP50)

	fl := rep.Floor
	require.NotNil(t, fl)
	require.Equal(t, 10, fl.Workflows)
	require.Equal(t, 1, fl.ActivitiesPerOrder)
	require.Equal(t, 3, fl.ActionsPerFlow, "the floor: a start, its webhook's signal, one activity")
	require.Positive(t, fl.Throughput)
	require.Positive(t, rep.FloorRatio)
	require.Greater(t, e.History.Actions, float64(fl.ActionsPerFlow))
	require.Greater(t, e.History.EventsMean, float64(fl.HistoryEventsPerFlow))
	require.Positive(t, e.History.Bytes)
	require.Equal(t, 10, e.History.Total.Starts, "one start per order")

	require.NotEqual(t, os.Getpid(), rep.Worker.PID, "the worker ran as a child process")
	require.Contains(t, rep.Worker.Process, "child process")
	require.Positive(t, rep.Worker.RSSBytes)
	require.GreaterOrEqual(t, rep.Worker.PeakRSSBytes, rep.Worker.RSSBytes)
	require.Equal(t, os.Getpid(), rep.Process.PID)
	require.NotNil(t, rep.Open)
	require.Equal(t, 3, rep.Open.Waiting)
	require.Positive(t, rep.Open.Worker.RSSBytes)
	require.Zero(t, rep.Open.DatabaseBytesAfter, "an in-memory database has no size to read")

	require.Equal(t, "child process", rep.Environment.WorkerMode)
	require.Equal(t, 10, rep.Environment.Orders)
	require.Positive(t, rep.Environment.CPUs)
	require.Len(t, rep.Targets, 8)
	require.Regexp(t, summaryLine, rep.Line())

	dir := filepath.Join(t.TempDir(), "out")
	paths, err := rep.WriteFiles(dir)
	require.NoError(t, err)
	require.Equal(t, []string{
		filepath.Join(dir, bench.FileJSON), filepath.Join(dir, bench.FileMarkdown), filepath.Join(dir, bench.FilePlot),
	}, paths)

	raw, err := os.ReadFile(paths[0])
	require.NoError(t, err)
	var back bench.Report
	require.NoError(t, json.Unmarshal(raw, &back))
	require.Equal(t, rep.Ratio, back.Ratio)
	require.Equal(t, e.Latency, back.EndToEnd.Latency)

	md, err := os.ReadFile(paths[1])
	require.NoError(t, err)
	for _, want := range []string{"| throughput |", "| latency p99 |", "**Ratio**", "**floor ratio**", "| Temporal actions per order |", "| webhooks", "| target |", bench.FilePlot} {
		require.Contains(t, string(md), want)
	}

	f, err := os.Open(paths[2])
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	require.Greater(t, img.Bounds().Dx(), 100)
	require.Greater(t, img.Bounds().Dy(), 100)
}

// TestLongOpenSmoke leaves one Appraisal open two short days with a note a day and a few
// webhooks, and checks its history was weighed: the notes as updates, the webhooks as signals.
func TestLongOpenSmoke(t *testing.T) {
	ctx, cfg := smoke(t, 1)
	cfg.LongOpenDays, cfg.Day, cfg.LongOpenWebhooks = 2, 500*time.Millisecond, 6
	rep, err := bench.Run(ctx, cfg)
	require.NoError(t, err)
	require.Nil(t, rep.EndToEnd, "only the long-open order runs")
	l := rep.LongOpen
	require.NotNil(t, l)
	require.Equal(t, 2, l.Notes)
	require.GreaterOrEqual(t, l.Webhooks, 6)
	require.Positive(t, l.Updates)
	require.Equal(t, 1, l.Runs)
	require.Equal(t, 2, l.Total.Updates, "a progress note is an update")
	require.GreaterOrEqual(t, l.Total.SignalsReceived, l.Webhooks, "every webhook the API took is a signal")
	require.Positive(t, l.Total.Timers, "the recheck timer, a quarter day")
	require.Equal(t, l.Total.Actions(), l.Actions)
	require.Positive(t, l.Total.Bytes)
	require.Regexp(t, `^bench: long open 2 days, 2 notes, [0-9]+ webhooks: 1 runs, [0-9]+ events, [0-9]+ bytes, [0-9]+ actions$`, rep.Line())
}

// BenchmarkFloodEndToEnd runs b.N flood orders end to end and, in the same process, the
// ceiling; the figures that mean something are the ratios. Run it with a fixed count:
//
//	go test -run '^$' -bench FloodEndToEnd -benchtime 200x ./bench/
func BenchmarkFloodEndToEnd(b *testing.B) {
	rep := runBench(b, config(b, b.N))
	e := rep.EndToEnd
	b.ReportMetric(rep.Ratio, "ratio")
	b.ReportMetric(rep.LatencyRatioP50, "p50-ratio")
	b.ReportMetric(e.Throughput, "orders/s")
	b.ReportMetric(rep.Ceiling.Throughput, "ceiling-orders/s")
	b.ReportMetric(e.Latency.P50, "p50-ms")
	b.ReportMetric(e.Webhook.P99, "webhook-p99-ms")
}

// BenchmarkCeiling runs the ceiling alone (b.N minimal workflows with a flood order's number
// of no-op activities): the reference the end-to-end figures are divided by.
//
//	go test -run '^$' -bench Ceiling -benchtime 200x ./bench/
func BenchmarkCeiling(b *testing.B) {
	cfg := config(b, b.N)
	cfg.CeilingOnly = true
	rep := runBench(b, cfg)
	b.ReportMetric(rep.Ceiling.Throughput, "orders/s")
	b.ReportMetric(rep.Ceiling.Latency.P50, "p50-ms")
	b.ReportMetric(rep.Ceiling.Latency.P99, "p99-ms")
}

func runBench(b *testing.B, cfg bench.Config) *bench.Report {
	b.Helper()
	cfg.Timeout = 20 * time.Minute
	rep, err := bench.Run(context.Background(), cfg)
	require.NoError(b, err)
	b.Log(strings.TrimSpace(rep.Line()))
	return rep
}
