// Package histstats counts what a Temporal workflow history cost the server: its events, its
// size, and its Temporal actions, the unit Temporal Cloud bills and a fair measure of the
// server's work for a workflow. It reads a history already fetched (replay.History fetches
// one) and does no I/O.
//
// Actions, as issue 12 defines them, are counted from the history's events:
//   - the workflow's start (WorkflowExecutionStarted; a SignalWithStart is this plus its signal);
//   - each signal received (WorkflowExecutionSignaled) and sent (SignalExternalWorkflowExecutionInitiated);
//   - each activity scheduled (ActivityTaskScheduled), and each child workflow started
//     (StartChildWorkflowExecutionInitiated);
//   - each batch of local activities: the LocalActivity markers recorded by one workflow task
//     count once, as Temporal Cloud bills them;
//   - each timer started (TimerStarted);
//   - each update accepted (WorkflowExecutionUpdateAccepted; a rejected update leaves no event);
//   - each search-attribute upsert (UpsertWorkflowSearchAttributes) and memo upsert
//     (WorkflowPropertiesModified).
//
// Not visible in a history and so not counted: activity heartbeats, queries, and the attempts
// of an activity before its last (Counts.ActivityRetries reports those retries apart, from the
// last attempt's number, but they are not in Actions).
package histstats

import (
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/proto"
)

// LocalActivityMarker is the marker name the Go SDK records a local activity's result under.
const LocalActivityMarker = "LocalActivity"

// Counts is what one history (or, added up, several) holds.
type Counts struct {
	Events int `json:"events"`
	// Bytes is the history's protobuf encoding, payloads as stored (encrypted when a codec
	// encrypts them): about what the server writes for it.
	Bytes int `json:"bytes"`

	Starts               int `json:"starts"`
	SignalsReceived      int `json:"signalsReceived"`
	SignalsSent          int `json:"signalsSent"`
	Activities           int `json:"activities"`
	ChildWorkflows       int `json:"childWorkflows"`
	LocalActivities      int `json:"localActivities"`
	LocalActivityBatches int `json:"localActivityBatches"`
	Timers               int `json:"timers"`
	Updates              int `json:"updates"`
	SearchAttrUpserts    int `json:"searchAttributeUpserts"`
	MemoUpserts          int `json:"memoUpserts"`

	// ActivityRetries is the attempts beyond the first of the activities that started, read
	// from each ActivityTaskStarted's attempt number; not part of Actions.
	ActivityRetries int `json:"activityRetries"`
}

// Actions is the number of Temporal actions the counted events stand for.
func (c Counts) Actions() int {
	return c.Starts + c.SignalsReceived + c.SignalsSent + c.Activities + c.ChildWorkflows +
		c.LocalActivityBatches + c.Timers + c.Updates + c.SearchAttrUpserts + c.MemoUpserts
}

// Add returns the sum of c and o, field by field.
func (c Counts) Add(o Counts) Counts {
	return Counts{
		Events: c.Events + o.Events, Bytes: c.Bytes + o.Bytes,
		Starts: c.Starts + o.Starts, SignalsReceived: c.SignalsReceived + o.SignalsReceived,
		SignalsSent: c.SignalsSent + o.SignalsSent, Activities: c.Activities + o.Activities,
		ChildWorkflows: c.ChildWorkflows + o.ChildWorkflows, LocalActivities: c.LocalActivities + o.LocalActivities,
		LocalActivityBatches: c.LocalActivityBatches + o.LocalActivityBatches, Timers: c.Timers + o.Timers,
		Updates: c.Updates + o.Updates, SearchAttrUpserts: c.SearchAttrUpserts + o.SearchAttrUpserts,
		MemoUpserts: c.MemoUpserts + o.MemoUpserts, ActivityRetries: c.ActivityRetries + o.ActivityRetries,
	}
}

// Of counts a history. A nil history counts as empty.
func Of(h *historypb.History) Counts {
	c := Counts{Bytes: proto.Size(h)}
	c.countEvents(h.GetEvents())
	return c
}

// Events counts a list of events; Bytes is then the sum of the events' encodings.
func Events(events []*historypb.HistoryEvent) Counts {
	var c Counts
	for _, ev := range events {
		c.Bytes += proto.Size(ev)
	}
	c.countEvents(events)
	return c
}

func (c *Counts) countEvents(events []*historypb.HistoryEvent) {
	c.Events += len(events)
	// Local activities recorded by the same workflow task are one batch: their markers name
	// the WorkflowTaskCompleted event that recorded them.
	batches := map[int64]bool{}
	for _, ev := range events {
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			c.Starts++
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
			c.SignalsReceived++
		case enumspb.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
			c.SignalsSent++
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			c.Activities++
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			if a := ev.GetActivityTaskStartedEventAttributes().GetAttempt(); a > 1 {
				c.ActivityRetries += int(a) - 1
			}
		case enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
			c.ChildWorkflows++
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			m := ev.GetMarkerRecordedEventAttributes()
			if m.GetMarkerName() != LocalActivityMarker {
				continue
			}
			c.LocalActivities++
			if wft := m.GetWorkflowTaskCompletedEventId(); !batches[wft] {
				batches[wft] = true
				c.LocalActivityBatches++
			}
		case enumspb.EVENT_TYPE_TIMER_STARTED:
			c.Timers++
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
			c.Updates++
		case enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
			c.SearchAttrUpserts++
		case enumspb.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED:
			c.MemoUpserts++
		}
	}
}
