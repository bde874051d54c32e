package drill

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"golang.org/x/sync/errgroup"

	"github.com/epcflow/epcflow/chaos"
	"github.com/epcflow/epcflow/internal/localrun"
	"github.com/epcflow/epcflow/workerproc"
	"github.com/epcflow/epcflow/workflows"
)

var httpClient = &http.Client{Timeout: 30 * time.Second}

func newGet(ctx context.Context, url string) (*http.Request, error) {
	return http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
}

// steps are the drill's acts, at shares of the orders finished, beside the chaos suite's
// partner outage (at 0.30): API replica 1 killed, Temporal killed, workers killed before and
// after the upgrade (which is placed halfway by Halfway, not by a share).
func (r *run) steps() []chaos.Step {
	steps := []chaos.Step{
		{At: 0.20, Name: "kill API replica 1", Do: r.killAPI},
		{At: 0.35, Name: "kill Temporal", Do: r.killTemporal},
	}
	for k := range r.cfg.WorkerKills {
		at := 0.10
		if r.cfg.WorkerKills > 1 {
			at += 0.70 * float64(k) / float64(r.cfg.WorkerKills-1)
		}
		steps = append(steps, chaos.Step{At: at, Name: fmt.Sprintf("kill worker %d", k%3+1), Do: func(ctx context.Context) error { return r.killWorker(ctx, k%3) }})
	}
	return steps
}

// killAPI SIGKILLs API replica 1 while webhooks flow (the sandbox's next tries reach replica
// 2), keeps it down for APIDowntime and starts it again on its port.
func (r *run) killAPI(ctx context.Context) error {
	a := r.apis[0]
	return r.bounce(ctx, "API replica 1", "", func() *workerproc.Process { return a.proc }, a.start, r.cfg.APIDowntime, &r.res.KilledAPI)
}

// killTemporal SIGKILLs the Temporal process, keeps it down for TemporalDowntime and starts
// it again on the same database and port; clients and workers reconnect on their own.
func (r *run) killTemporal(ctx context.Context) error {
	t := r.temporal
	return r.bounce(ctx, "Temporal", " on the same database", func() *workerproc.Process { return t.proc }, t.start, r.cfg.TemporalDowntime, &r.res.KilledTemporal)
}

// bounce SIGKILLs a part's process, counts it in killed, keeps the part down for downtime
// and starts it again; proc is read again after start, which replaces the process.
func (r *run) bounce(ctx context.Context, name, again string, proc func() *workerproc.Process, start func(context.Context) error, downtime time.Duration, killed *int) error {
	pid := proc().PID()
	if err := proc().Kill(); err != nil {
		return err
	}
	*killed++
	r.printf("%s (process %d) SIGKILLed; down for %s", name, pid, downtime)
	if err := sleep(ctx, downtime); err != nil {
		return err
	}
	if err := start(ctx); err != nil {
		return err
	}
	r.printf("%s started again as process %d%s", name, proc().PID(), again)
	return nil
}

// killWorker SIGKILLs worker i once its /metrics shows activities in flight, and starts it
// again from the build it ran.
func (r *run) killWorker(ctx context.Context, i int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.workers[i]
	busy := chaos.ActivitiesInFlight(ctx, r.wcfg[i].MetricsListen, 15*time.Second)
	if err := w.Kill(); err != nil {
		return err
	}
	r.res.KilledWorkers++
	if busy > 0 {
		r.res.KilledWorkersMidActivity++
		r.printf("worker %d (process %d) SIGKILLed with %d activities in flight", i+1, w.PID(), busy)
	} else {
		r.printf("worker %d (process %d) SIGKILLed; no activity seen in flight within 15s", i+1, w.PID())
	}
	nw, err := workerproc.Start(ctx, r.c, r.wcfg[i])
	if err != nil {
		return fmt.Errorf("restart worker %d: %w", i+1, err)
	}
	r.workers[i] = nw
	r.printf("worker %d started again as process %d", i+1, nw.PID())
	return nil
}

// upgrade is the rolling upgrade, halfway through the placing of orders: once every order
// placed so far has had its first workflow task (so it runs on the old path for good), each
// worker in turn is replaced by the upgraded build: the new one polls, then the old one stops
// (SIGTERM), so two of three keep working throughout.
func (r *run) upgrade(ctx context.Context, placed []string) error {
	r.printf("rolling upgrade: waiting for the %d orders placed so far to have started", len(placed))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, id := range placed {
		g.Go(func() error { return r.awaitFirstTask(gctx, workflows.TransactionWorkflowID(id)) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	r.printf("rolling upgrade: all %d started; replacing the workers one by one", len(placed))
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.workers {
		wc := r.wcfg[i]
		wc.Command = []string{r.upgraded}
		mport, err := localrun.FreePort() // the old one still serves its own /metrics
		if err != nil {
			return err
		}
		wc.MetricsListen = net.JoinHostPort("127.0.0.1", strconv.Itoa(mport))
		t0 := time.Now()
		nw, err := workerproc.Start(ctx, r.c, wc)
		if err != nil {
			return fmt.Errorf("upgraded worker %d: %w", i+1, err)
		}
		old := r.workers[i]
		r.workers[i], r.wcfg[i] = nw, wc
		t1 := time.Now()
		if err := old.Stop(30 * time.Second); err != nil {
			r.printf("worker %d: %v", i+1, err)
		}
		r.res.Upgraded++
		r.printf("worker %d upgraded: process %d (upgraded) polling after %s, process %d (old build) stopped (SIGTERM) in %s",
			i+1, nw.PID(), t1.Sub(t0).Round(100*time.Millisecond), old.PID(), time.Since(t1).Round(100*time.Millisecond))
	}
	return nil
}

// awaitFirstTask waits until the workflow's first workflow task has completed, the server
// restarting or the webhook still on its way notwithstanding.
func (r *run) awaitFirstTask(ctx context.Context, workflowID string) error {
	for {
		it := r.c.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				var nf *serviceerror.NotFound
				if !errors.As(err, &nf) && ctx.Err() == nil {
					r.log.Warn("drill: read history", "workflow", workflowID, "error", err)
				}
				break
			}
			if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED {
				return nil
			}
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return fmt.Errorf("%s never had its first workflow task: %w", workflowID, err)
		}
	}
}
