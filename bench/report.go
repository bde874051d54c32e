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
	targetFloorRatio   = 0.5  // issue 12
	targetActions      = 15.0 // issue 12: Temporal actions per flood order
	targetEvents       = 40.0 // issue 12: history events per flood order
	targetCPUMs        = 60.0 // issue 12: CPU per order across processes
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
			Target{Name: "Temporal actions per order", Goal: fmt.Sprintf("<= %.0f", targetActions), Measured: e.History.Actions, Met: e.History.Actions <= targetActions},
			Target{Name: "history events per order", Goal: fmt.Sprintf("<= %.0f", targetEvents), Measured: e.History.EventsMean, Met: e.History.EventsMean <= targetEvents},
			Target{Name: "CPU per order, all processes", Goal: fmt.Sprintf("<= %.0f ms", targetCPUMs), Measured: e.CPU.PerOrderMs, Unit: "ms", Met: e.CPU.PerOrderMs <= targetCPUMs},
		)
		if r.Floor != nil {
			ts = append(ts, Target{Name: "throughput ratio to the floor", Goal: fmt.Sprintf(">= %.1f", targetFloorRatio), Measured: r.FloorRatio, Met: r.FloorRatio >= targetFloorRatio})
		}
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
	switch {
	case e == nil && r.LongOpen != nil:
		l := r.LongOpen
		return fmt.Sprintf("bench: long open %d days, %d notes, %d webhooks: %d runs, %d events, %d bytes, %d actions",
			l.Days, l.Notes, l.Webhooks, l.Runs, l.Total.Events, l.Total.Bytes, l.Actions)
	case e == nil && r.Open != nil && r.Ceiling.Workflows == 0:
		o := r.Open
		return fmt.Sprintf("bench: open %d orders: worker RSS %.1f MB (%.0f bytes per order above idle), database %.0f bytes per order",
			o.Orders, o.Worker.MB(), o.WorkerBytesPerOrder, o.DatabaseBytesPerOrder)
	case e == nil:
		return fmt.Sprintf("bench: ceiling %.1f/s (end to end not run)", r.Ceiling.Throughput)
	}
	var floor float64
	if r.Floor != nil {
		floor = r.Floor.Throughput
	}
	return fmt.Sprintf("bench: e2e %.1f/s, ceiling %.1f/s, ratio %.2f, floor %.1f/s, floor ratio %.2f, actions/order %.1f, events/order %.1f, webhook p99 %.1f ms, e2e p50 %.1f ms",
		e.Throughput, r.Ceiling.Throughput, r.Ratio, floor, r.FloorRatio, e.History.Actions, e.History.EventsMean, e.Webhook.P99, e.Latency.P50)
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
	files := []struct {
		name string
		data []byte
	}{
		{FileJSON, append(js, '\n')},
		{FileMarkdown, []byte(r.Markdown())},
	}
	if ss := r.plotSeries(); len(ss) > 0 {
		img, err := plotPNG(r.plotTitle(), ss)
		if err != nil {
			return nil, err
		}
		files = append(files, struct {
			name string
			data []byte
		}{FilePlot, img})
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
	if len(r.Ceiling.latencies) > 0 {
		ss = append(ss, series{name: fmt.Sprintf("ceiling, %d no-op activities (p50 %s ms)", r.Ceiling.ActivitiesPerOrder, shortMs(r.Ceiling.Latency.P50)), color: colorCeiling, ds: r.Ceiling.latencies})
	}
	if f := r.Floor; f != nil {
		ss = append(ss, series{name: fmt.Sprintf("floor, 1 no-op activity (p50 %s ms)", shortMs(f.Latency.P50)), color: colorFloor, ds: f.latencies})
	}
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
	if r.EndToEnd != nil || r.Ceiling.Workflows > 0 {
		fmt.Fprintf(&b, "%d orders at %s (+%d warm-up, not measured), open loop. ", env.Orders, rateText(env.Rate), env.Warmup)
	}
	fmt.Fprintf(&b, "Load average %.2f at the start, %.2f at the end.\n\n", env.LoadAverageStart, env.LoadAverageEnd)

	c := r.Ceiling
	if e := r.EndToEnd; e != nil {
		f := Reference{}
		if r.Floor != nil {
			f = *r.Floor
		}
		b.WriteString("| | end to end (FloodCertification) | floor (1 no-op activity, SignalWithStart) | ceiling (no-op activities) |\n|---|---:|---:|---:|\n")
		fmt.Fprintf(&b, "| orders completed | %d | %d | %d |\n", e.Completed, f.Workflows, c.Workflows)
		fmt.Fprintf(&b, "| throughput | %.1f /s | %.1f /s | %.1f /s |\n", e.Throughput, f.Throughput, c.Throughput)
		fmt.Fprintf(&b, "| wall time | %.0f ms | %.0f ms | %.0f ms |\n", e.WallMs, f.WallMs, c.WallMs)
		for _, row := range []struct {
			name    string
			a, b, c float64
		}{
			{"latency p50", e.Latency.P50, f.Latency.P50, c.Latency.P50}, {"latency p90", e.Latency.P90, f.Latency.P90, c.Latency.P90},
			{"latency p99", e.Latency.P99, f.Latency.P99, c.Latency.P99}, {"latency max", e.Latency.Max, f.Latency.Max, c.Latency.Max},
		} {
			fmt.Fprintf(&b, "| %s | %.1f ms | %.1f ms | %.1f ms |\n", row.name, row.a, row.b, row.c)
		}
		h := e.History
		fmt.Fprintf(&b, "| Temporal actions per order | %.1f (%d–%d) | %d | %d |\n", h.Actions, h.ActionsMin, h.ActionsMax, f.ActionsPerFlow, c.ActionsPerFlow)
		fmt.Fprintf(&b, "| history events per order | %.1f (median %d, %d–%d) | %d | %d |\n", h.EventsMean, h.Events, h.EventsMin, h.EventsMax, f.HistoryEventsPerFlow, c.HistoryEventsPerFlow)
		fmt.Fprintf(&b, "| history bytes per order | %.0f | %d | %d |\n", h.Bytes, f.Counts.Bytes, c.Counts.Bytes)
		fmt.Fprintf(&b, "| activities per order | %d (%d–%d) | %d | %d |\n", h.Activities, h.ActivitiesMin, h.ActivitiesMax, f.ActivitiesPerOrder, c.ActivitiesPerOrder)
		fmt.Fprintf(&b, "| visibility lag after the last order | %.0f ms | %.0f ms | %.0f ms |\n", e.VisibilityLagMs, f.VisibilityLagMs, c.VisibilityLagMs)
		fmt.Fprintf(&b, "| CPU per order, all processes | %.1f ms | %.1f ms | %.1f ms |\n", e.CPU.PerOrderMs, f.CPU.PerOrderMs, c.CPU.PerOrderMs)
		fmt.Fprintf(&b, "| CPU of the bench process / the worker process | %.0f / %.0f ms | %.0f / %.0f ms | %.0f / %.0f ms |\n\n",
			e.CPU.BenchProcessMs, e.CPU.WorkerProcessMs, f.CPU.BenchProcessMs, f.CPU.WorkerProcessMs, c.CPU.BenchProcessMs, c.CPU.WorkerProcessMs)
		fmt.Fprintf(&b, "End to end: from an order's first webhook sent to the sandbox's record of its completed PATCH. Floor and ceiling: start → result.\n\n")
		fmt.Fprintf(&b, "**Ratio** (throughput, end to end / ceiling): **%.2f**; **floor ratio** (end to end / floor): **%.2f**; median latency ratio (ceiling p50 / end-to-end p50): %.2f; CPU ratio (ceiling CPU per workflow / end-to-end CPU per order): %.2f.\n\n", r.Ratio, r.FloorRatio, r.LatencyRatioP50, r.CPURatio)
		t := h.Total
		if n := float64(max(e.Completed, 1)); t.Events > 0 {
			fmt.Fprintf(&b, "Actions per order, by kind: start %.1f, signals %.1f, activities %.1f, local-activity batches %.1f, timers %.1f, updates %.1f, search-attribute upserts %.1f, memo upserts %.1f, child workflows %.1f, signals sent %.1f.\n\n",
				float64(t.Starts)/n, float64(t.SignalsReceived)/n, float64(t.Activities)/n, float64(t.LocalActivityBatches)/n, float64(t.Timers)/n,
				float64(t.Updates)/n, float64(t.SearchAttrUpserts)/n, float64(t.MemoUpserts)/n, float64(t.ChildWorkflows)/n, float64(t.SignalsSent)/n)
		}
		b.WriteString("| webhooks (request sent → 202) | count | p50 | p90 | p99 | max |\n|---|---:|---:|---:|---:|---:|\n")
		for _, row := range []struct {
			name string
			l    Latency
		}{{"all (sent by the benchmark + relayed from the sandbox)", e.Webhook}, {"orders' `created` transaction webhooks", e.WebhookCreated}} {
			fmt.Fprintf(&b, "| %s | %d | %.1f ms | %.1f ms | %.1f ms | %.1f ms |\n", row.name, row.l.Count, row.l.P50, row.l.P90, row.l.P99, row.l.Max)
		}
		fmt.Fprintf(&b, "\nThe API answered %.1f webhooks/s over the phase. Webhook tries made again (the API answered 5xx or 429 or not at all; retried as ICE retries): %s.\n\n", e.WebhookRate, e.WebhookRetries)
		if s := r.Sustainable; s != nil {
			b.WriteString(sustainableMarkdown(s, e))
		}
	} else if c.Workflows > 0 {
		fmt.Fprintf(&b, "Ceiling only: %d workflows of %d no-op activities, %.1f /s, p50 %.1f ms, p99 %.1f ms.\n\n",
			c.Workflows, c.ActivitiesPerOrder, c.Throughput, c.Latency.P50, c.Latency.P99)
	}

	b.WriteString("| memory (VmRSS from /proc) | RSS | peak (VmHWM) |\n|---|---:|---:|\n")
	fmt.Fprintf(&b, "| %s, idle (polling, before any order) | %.1f MB | %.1f MB |\n", r.WorkerIdle.Process, r.WorkerIdle.MB(), mb(r.WorkerIdle.PeakRSSBytes))
	if r.Worker.RSSBytes > 0 {
		fmt.Fprintf(&b, "| %s, after the orders | %.1f MB | %.1f MB |\n", r.Worker.Process, r.Worker.MB(), mb(r.Worker.PeakRSSBytes))
	}
	if o := r.Open; o != nil {
		fmt.Fprintf(&b, "| %s, with %d Appraisal orders open | %.1f MB | %.1f MB |\n", o.Worker.Process, o.Orders, o.Worker.MB(), mb(o.Worker.PeakRSSBytes))
	}
	fmt.Fprintf(&b, "| %s, at the end | %.1f MB | %.1f MB |\n\n", r.Process.Process, r.Process.MB(), mb(r.Process.PeakRSSBytes))
	if o := r.Open; o != nil {
		fmt.Fprintf(&b, "%d Appraisal orders were all waiting for the appraiser %.1f s after the first was placed: worker RSS %.0f bytes per open order above idle", o.Orders, o.ReachedMs/1000, o.WorkerBytesPerOrder)
		if o.DatabaseBytesAfter > 0 {
			fmt.Fprintf(&b, "; Temporal's databases grew from %.1f to %.1f MB, %.0f bytes per open order", mb(o.DatabaseBytesBefore), mb(o.DatabaseBytesAfter), o.DatabaseBytesPerOrder)
		}
		b.WriteString(".\n\n")
	}
	if l := r.LongOpen; l != nil {
		fmt.Fprintf(&b, "One Appraisal order open %d days (a day lasting %.0f ms, rechecks every quarter day), %d progress notes, %d lender updates bringing %d webhooks: %d runs, %d history events, %d bytes, %d Temporal actions; the largest run %d events, %d bytes.\n\n",
			l.Days, l.DayMs, l.Notes, l.Updates, l.Webhooks, l.Runs, l.Total.Events, l.Total.Bytes, l.Actions, l.Largest.Events, l.Largest.Bytes)
		t := l.Total
		fmt.Fprintf(&b, "Its actions by kind: start %d, signals %d, activities %d, local-activity batches %d, timers %d, updates %d, search-attribute upserts %d, memo upserts %d.\n\n",
			t.Starts, t.SignalsReceived, t.Activities, t.LocalActivityBatches, t.Timers, t.Updates, t.SearchAttrUpserts, t.MemoUpserts)
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
	if len(r.plotSeries()) > 0 {
		fmt.Fprintf(&b, "![latency CDF](%s)\n", FilePlot)
	}
	return b.String()
}

func mb(b int64) float64 { return round2(float64(b) / (1 << 20)) }

// sustainableMarkdown renders the rate search next to the saturated run.
func sustainableMarkdown(s *Sustainable, e *EndToEnd) string {
	var b strings.Builder
	b.WriteString("| run | offered | orders | throughput | e2e p50 | e2e p99 | webhook p99 | webhook retries | p99 < 2 s |\n|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for i, t := range s.Trials {
		name := fmt.Sprintf("search trial %d", i)
		if i == 0 {
			name = "saturated (the run above)"
		}
		held := "no"
		if t.Held {
			held = "yes"
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %.1f /s | %.0f ms | %.0f ms | %.1f ms | %d | %s |\n", name, rateText(t.Rate), t.Orders, t.Throughput, t.P50Ms, t.P99Ms, t.WebhookP99Ms, t.Retries, held)
	}
	switch {
	case s.Rate == 0:
		fmt.Fprintf(&b, "\n**Highest sustainable rate**: none found (%s).\n\n", s.Stopped)
	default:
		atLeast := ""
		if s.AtLeast {
			atLeast = "at least "
		}
		fmt.Fprintf(&b, "\n**Highest sustainable rate** (end-to-end p99 under 2 s): %s%g orders/s (p99 %.0f ms, webhook p99 %.1f ms), against %.1f orders/s completed when saturated at %s (webhook p99 %.1f ms); search ended: %s.\n\n",
			atLeast, s.Rate, s.P99Ms, s.WebhookP99Ms, e.Throughput, rateText(e.OfferedRate), e.Webhook.P99, s.Stopped)
	}
	return b.String()
}
