package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Target goals from the project's issues.
const (
	targetRatio        = 0.6
	targetE2EP50Ms     = 1000.0
	targetWebhookP99Ms = 50.0
	targetOpenRSSMB    = 500.0
	targetOpenOrders   = 10000
)

// File names WriteFiles writes in its directory.
const (
	FileJSON     = "bench.json"
	FileMarkdown = "bench.md"
	FilePlot     = "bench-latency.png"
)

func targets(r *Report) []Target {
	var ts []Target
	if e := r.EndToEnd; e != nil {
		ts = append(ts,
			Target{Name: "throughput ratio to the ceiling", Goal: fmt.Sprintf(">= %.1f", targetRatio), Measured: r.Ratio, Unit: "", Met: r.Ratio >= targetRatio},
			Target{Name: "median end-to-end latency", Goal: fmt.Sprintf("< %.0f ms", targetE2EP50Ms), Measured: e.Latency.P50, Unit: "ms", Met: e.Latency.P50 < targetE2EP50Ms},
			Target{
				Name: fmt.Sprintf("webhook p99 at %.0f webhooks/s (%s)", e.WebhookRate, rateText(r.Environment.Rate)),
				Goal: fmt.Sprintf("< %.0f ms at 50 webhooks/s", targetWebhookP99Ms), Measured: e.Webhook.P99, Unit: "ms", Met: e.Webhook.P99 < targetWebhookP99Ms,
			},
		)
	}
	if o := r.Open; o != nil {
		ts = append(ts, Target{
			Name: fmt.Sprintf("worker RSS with %d open orders", o.Orders), Goal: fmt.Sprintf("< %.0f MB with %d", targetOpenRSSMB, targetOpenOrders),
			Measured: o.Worker.MB(), Unit: "MB", Met: o.Worker.MB() < targetOpenRSSMB,
		})
	}
	return ts
}

// Line is the one-line summary `epcflow bench` ends with.
func (r *Report) Line() string {
	e := r.EndToEnd
	if e == nil {
		return fmt.Sprintf("bench: ceiling %.1f/s (end to end not run)", r.Ceiling.Throughput)
	}
	return fmt.Sprintf("bench: e2e %.1f/s, ceiling %.1f/s, ratio %.2f, webhook p99 %.1f ms, e2e p50 %.1f ms",
		e.Throughput, r.Ceiling.Throughput, r.Ratio, e.Webhook.P99, e.Latency.P50)
}

// WriteFiles writes the JSON report, the Markdown table and the latency plot into dir
// (created if needed) and returns their paths.
func (r *Report) WriteFiles(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("bench: output directory: %w", err)
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("bench: encode report: %w", err)
	}
	img, err := plotPNG(r.plotTitle(), r.plotSeries())
	if err != nil {
		return nil, err
	}
	files := []struct {
		name string
		data []byte
	}{
		{FileJSON, append(js, '\n')},
		{FileMarkdown, []byte(r.Markdown())},
		{FilePlot, img},
	}
	var paths []string
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			return paths, fmt.Errorf("bench: %w", err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}

func (r *Report) plotTitle() string {
	return fmt.Sprintf("Latency CDF, %d orders at %s", r.Environment.Orders, rateText(r.Environment.Rate))
}

func (r *Report) plotSeries() []series {
	var ss []series
	if e := r.EndToEnd; e != nil {
		ss = append(ss, series{name: fmt.Sprintf("end to end, flood order (p50 %s ms)", shortMs(e.Latency.P50)), color: colorE2E, ds: e.latencies})
	}
	ss = append(ss, series{name: fmt.Sprintf("ceiling, %d no-op activities (p50 %s ms)", r.Ceiling.ActivitiesPerOrder, shortMs(r.Ceiling.Latency.P50)), color: colorCeiling, ds: r.Ceiling.latencies})
	return ss
}

func shortMs(v float64) string { return fmt.Sprintf("%.0f", v) }

// Markdown renders the report as Markdown tables.
func (r *Report) Markdown() string {
	var b strings.Builder
	env := r.Environment
	fmt.Fprintf(&b, "# epcflow benchmark\n\n")
	fmt.Fprintf(&b, "%s, %s, %s/%s, %d CPUs (GOMAXPROCS %d); Temporal on %s; payloads encrypted: %t; worker: %s.\n",
		env.Started.Format("2006-01-02 15:04 MST"), env.GoVersion, env.OS, env.Arch, env.CPUs, env.GOMAXPROCS, env.Database, env.Encrypted, env.WorkerMode)
	fmt.Fprintf(&b, "%d orders at %s (+%d warm-up, not measured), open loop. Load average %.2f at the start, %.2f at the end.\n\n",
		env.Orders, rateText(env.Rate), env.Warmup, env.LoadAverageStart, env.LoadAverageEnd)

	c := r.Ceiling
	if e := r.EndToEnd; e != nil {
		b.WriteString("| | end to end (FloodCertification) | ceiling (no-op activities) |\n|---|---:|---:|\n")
		fmt.Fprintf(&b, "| orders completed | %d | %d |\n", e.Completed, c.Workflows)
		fmt.Fprintf(&b, "| throughput | %.1f /s | %.1f /s |\n", e.Throughput, c.Throughput)
		fmt.Fprintf(&b, "| wall time | %.0f ms | %.0f ms |\n", e.WallMs, c.WallMs)
		for _, row := range []struct {
			name string
			a, b float64
		}{{"latency p50", e.Latency.P50, c.Latency.P50}, {"latency p90", e.Latency.P90, c.Latency.P90}, {"latency p99", e.Latency.P99, c.Latency.P99}, {"latency max", e.Latency.Max, c.Latency.Max}} {
			fmt.Fprintf(&b, "| %s | %.1f ms | %.1f ms |\n", row.name, row.a, row.b)
		}
		fmt.Fprintf(&b, "| activities per order | %d (%d–%d) | %d |\n", e.History.Activities, e.History.ActivitiesMin, e.History.ActivitiesMax, c.ActivitiesPerOrder)
		fmt.Fprintf(&b, "| history events per order | %d (%d–%d) | %d |\n", e.History.Events, e.History.EventsMin, e.History.EventsMax, c.HistoryEventsPerFlow)
		fmt.Fprintf(&b, "| visibility lag after the last order | %.0f ms | %.0f ms |\n", e.VisibilityLagMs, c.VisibilityLagMs)
		fmt.Fprintf(&b, "| CPU per order, all processes | %.1f ms | %.1f ms |\n", e.CPU.PerOrderMs, c.CPU.PerOrderMs)
		fmt.Fprintf(&b, "| CPU of the bench process / the worker process | %.0f / %.0f ms | %.0f / %.0f ms |\n\n",
			e.CPU.BenchProcessMs, e.CPU.WorkerProcessMs, c.CPU.BenchProcessMs, c.CPU.WorkerProcessMs)
		fmt.Fprintf(&b, "End to end: from an order's first webhook sent to the sandbox's record of its completed PATCH. Ceiling: start → result.\n\n")
		fmt.Fprintf(&b, "**Ratio** (throughput, end to end / ceiling): **%.2f**; median latency ratio (ceiling p50 / end-to-end p50): %.2f; CPU ratio (ceiling CPU per workflow / end-to-end CPU per order): %.2f.\n\n", r.Ratio, r.LatencyRatioP50, r.CPURatio)
		b.WriteString("| webhooks (request sent → 202) | count | p50 | p90 | p99 | max |\n|---|---:|---:|---:|---:|---:|\n")
		for _, row := range []struct {
			name string
			l    Latency
		}{{"all (sent by the benchmark + relayed from the sandbox)", e.Webhook}, {"orders' `created` transaction webhooks", e.WebhookCreated}} {
			fmt.Fprintf(&b, "| %s | %d | %.1f ms | %.1f ms | %.1f ms | %.1f ms |\n", row.name, row.l.Count, row.l.P50, row.l.P90, row.l.P99, row.l.Max)
		}
		fmt.Fprintf(&b, "\nThe API answered %.1f webhooks/s over the phase.\n\n", e.WebhookRate)
	} else {
		fmt.Fprintf(&b, "Ceiling only: %d workflows of %d no-op activities, %.1f /s, p50 %.1f ms, p99 %.1f ms.\n\n",
			c.Workflows, c.ActivitiesPerOrder, c.Throughput, c.Latency.P50, c.Latency.P99)
	}

	b.WriteString("| memory (VmRSS from /proc) | RSS | peak (VmHWM) |\n|---|---:|---:|\n")
	fmt.Fprintf(&b, "| %s, idle (polling, before any order) | %.1f MB | %.1f MB |\n", r.WorkerIdle.Process, r.WorkerIdle.MB(), mb(r.WorkerIdle.PeakRSSBytes))
	fmt.Fprintf(&b, "| %s, after the orders | %.1f MB | %.1f MB |\n", r.Worker.Process, r.Worker.MB(), mb(r.Worker.PeakRSSBytes))
	if o := r.Open; o != nil {
		fmt.Fprintf(&b, "| %s, with %d Appraisal orders open | %.1f MB | %.1f MB |\n", o.Worker.Process, o.Orders, o.Worker.MB(), mb(o.Worker.PeakRSSBytes))
	}
	fmt.Fprintf(&b, "| %s, at the end | %.1f MB | %.1f MB |\n\n", r.Process.Process, r.Process.MB(), mb(r.Process.PeakRSSBytes))
	if o := r.Open; o != nil {
		fmt.Fprintf(&b, "%d Appraisal orders were all waiting for the appraiser %.1f s after the first was placed.\n\n", o.Orders, o.ReachedMs/1000)
	}

	if len(r.Targets) > 0 {
		b.WriteString("| target | goal | measured | met |\n|---|---|---:|---|\n")
		for _, t := range r.Targets {
			met := "yes"
			if !t.Met {
				met = "**no**"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", t.Name, t.Goal, strings.TrimSpace(fmt.Sprintf("%.2f %s", t.Measured, t.Unit)), met)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "![latency CDF](%s)\n", FilePlot)
	return b.String()
}

func mb(b int64) float64 { return round2(float64(b) / (1 << 20)) }
