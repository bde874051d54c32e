package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/epcflow/epcflow/devserver"
)

func TestScratchCeiling(t *testing.T) {
	for _, v := range []struct {
		name  string
		extra map[string]any
	}{
		{"default", nil},
		{"transfer1000", map[string]any{"history.transferProcessorMaxPollRPS": 1000}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		srv, err := devserver.Start(ctx, devserver.Config{DBPath: devserver.MemoryDB, UIPort: devserver.NoUI, ExtraDynamicConfig: v.extra})
		if err != nil {
			t.Fatal(err)
		}
		c, err := client.Dial(client.Options{HostPort: srv.FrontendAddress()})
		if err != nil {
			t.Fatal(err)
		}
		w := sdkworker.New(c, ceilingTaskQueue, sdkworker.Options{MaxConcurrentActivityExecutionSize: 200, MaxConcurrentWorkflowTaskExecutionSize: 100})
		w.RegisterWorkflowWithOptions(ceilingWorkflow, workflow.RegisterOptions{Name: ceilingWorkflowName})
		w.RegisterActivityWithOptions(noop, activity.RegisterOptions{Name: noopActivityName})
		w.Start()
		for i := range 5 {
			t0 := time.Now()
			run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprint("c", i), TaskQueue: ceilingTaskQueue}, ceilingWorkflowName, 12)
			if err != nil {
				t.Fatal(err)
			}
			run.Get(ctx, nil)
			it := c.GetWorkflowHistory(ctx, fmt.Sprint("c", i), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			var sched time.Time
			var waits []time.Duration
			for it.HasNext() {
				ev, _ := it.Next()
				switch ev.GetEventType() {
				case enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
					sched = ev.GetEventTime().AsTime()
				case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
					waits = append(waits, ev.GetEventTime().AsTime().Sub(sched).Round(time.Millisecond))
				}
			}
			fmt.Printf("%s #%d: %v, WFT schedule→start %v\n", v.name, i, time.Since(t0).Round(time.Millisecond), waits)
		}
		w.Stop()
		c.Close()
		srv.Stop()
		cancel()
	}
}
