package starter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/epcflow/epcflow/workflows"
)

// MaxHistoryEvents bounds the events Order reads of one history (a long-lived order's
// webhooks add up); past it, OrderHistory.Truncated says so.
const MaxHistoryEvents = 5000

// OrderHistory is one transaction's execution: what Temporal describes of it and its
// history, decoded.
type OrderHistory struct {
	WorkflowID, RunID string
	// Status is the execution's: Running, Completed, Failed, Terminated, …
	Status              string
	StartedAt, ClosedAt time.Time
	// Pending are the activities under way or waiting to be retried.
	Pending []PendingActivity
	Events  []Event
	// Truncated: the history has more than MaxHistoryEvents events; the first are in Events.
	Truncated bool
}

// PendingActivity is an activity under way, or waiting for its next attempt.
type PendingActivity struct {
	ActivityID, Type string
	State            string // Scheduled, Started, CancelRequested
	Attempt          int32
	LastFailure      string
	NextAttemptAt    time.Time
}

// Event is one history event, its payloads decoded to JSON and its failure to a message.
type Event struct {
	ID   int64
	Time time.Time
	// Type is the event type as Temporal names it, e.g. ActivityTaskScheduled.
	Type string
	// Name is the activity type, signal, update or timer id the event is about.
	Name string
	// Summary is the activity's summary (what the workflow said it does).
	Summary string
	// ActivityID (scheduled) and ScheduledID (an activity's outcome) pair an activity's
	// events; AcceptedID pairs an update's completion with its acceptance.
	ActivityID              string
	ScheduledID, AcceptedID int64
	UpdateID                string
	// Input is the first argument (a start's, signal's, activity's or update's); Result the
	// first result (an activity's, update's or the workflow's).
	Input, Result json.RawMessage
	Failure       string
	Attempt       int32
	// Attributes are the search attributes an upsert sets (string or time.Time; nil: unset).
	Attributes map[string]any
	// Timeout is a timer's duration.
	Timeout time.Duration
}

// Order describes a transaction's workflow and reads its history: ErrNotFound when there is
// none.
func (c *Console) Order(ctx context.Context, transactionID string) (OrderHistory, error) {
	id := workflows.TransactionWorkflowID(transactionID)
	d, err := c.Client.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return OrderHistory{}, fmt.Errorf("console: describe %s: %w", id, classify(err))
	}
	info := d.GetWorkflowExecutionInfo()
	h := OrderHistory{
		WorkflowID: id, RunID: info.GetExecution().GetRunId(),
		Status: statusName(info.GetStatus()), StartedAt: info.GetStartTime().AsTime(),
	}
	if info.GetCloseTime() != nil {
		h.ClosedAt = info.GetCloseTime().AsTime()
	}
	for _, p := range d.GetPendingActivities() {
		pa := PendingActivity{
			ActivityID: p.GetActivityId(), Type: p.GetActivityType().GetName(), State: p.GetState().String(),
			Attempt: p.GetAttempt(), LastFailure: c.failure(p.GetLastFailure()),
		}
		if t := p.GetNextAttemptScheduleTime(); t != nil {
			pa.NextAttemptAt = t.AsTime()
		}
		h.Pending = append(h.Pending, pa)
	}
	it := c.Client.GetWorkflowHistory(ctx, id, h.RunID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return OrderHistory{}, fmt.Errorf("console: history of %s: %w", id, classify(err))
		}
		if len(h.Events) == MaxHistoryEvents {
			h.Truncated = true
			break
		}
		if ev, ok := c.event(e); ok {
			h.Events = append(h.Events, ev)
		}
	}
	return h, nil
}

// localActivityMarker names the marker the SDK records a local activity's run in.
const localActivityMarker = "LocalActivity"

// event decodes the events the console shows; false for the rest (workflow tasks that went
// well, version markers).
func (c *Console) event(e *historypb.HistoryEvent) (Event, bool) {
	ev := Event{ID: e.GetEventId(), Time: e.GetEventTime().AsTime(), Type: e.GetEventType().String()}
	if s := e.GetUserMetadata().GetSummary(); s != nil {
		_ = c.DataConverter.FromPayload(s, &ev.Summary)
	}
	switch e.GetEventType() {
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
		a := e.GetWorkflowExecutionStartedEventAttributes()
		ev.Name, ev.Input = a.GetWorkflowType().GetName(), c.first(a.GetInput())
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
		a := e.GetWorkflowExecutionSignaledEventAttributes()
		ev.Name, ev.Input = a.GetSignalName(), c.first(a.GetInput())
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
		a := e.GetActivityTaskScheduledEventAttributes()
		ev.Name, ev.ActivityID, ev.Input = a.GetActivityType().GetName(), a.GetActivityId(), c.first(a.GetInput())
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
		a := e.GetActivityTaskStartedEventAttributes()
		ev.ScheduledID, ev.Attempt, ev.Failure = a.GetScheduledEventId(), a.GetAttempt(), c.failure(a.GetLastFailure())
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
		a := e.GetActivityTaskCompletedEventAttributes()
		ev.ScheduledID, ev.Result = a.GetScheduledEventId(), c.first(a.GetResult())
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED:
		a := e.GetActivityTaskFailedEventAttributes()
		ev.ScheduledID, ev.Failure = a.GetScheduledEventId(), c.failure(a.GetFailure())
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
		a := e.GetActivityTaskTimedOutEventAttributes()
		ev.ScheduledID, ev.Failure = a.GetScheduledEventId(), c.failure(a.GetFailure())
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_CANCELED:
		ev.ScheduledID = e.GetActivityTaskCanceledEventAttributes().GetScheduledEventId()
	case enumspb.EVENT_TYPE_MARKER_RECORDED:
		a := e.GetMarkerRecordedEventAttributes()
		if a.GetMarkerName() != localActivityMarker {
			return Event{}, false
		}
		// A local activity: one event for its whole run (its input is not recorded).
		var data struct {
			ActivityID, ActivityType string
			Attempt                  int32
		}
		if p := a.GetDetails()["data"].GetPayloads(); len(p) > 0 {
			_ = c.DataConverter.FromPayload(p[0], &data)
		}
		ev.Name, ev.ActivityID, ev.Attempt = data.ActivityType, data.ActivityID, data.Attempt
		ev.Result, ev.Failure = c.first(a.GetDetails()["result"]), c.failure(a.GetFailure())
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
		a := e.GetWorkflowExecutionUpdateAcceptedEventAttributes()
		r := a.GetAcceptedRequest()
		ev.Name, ev.UpdateID, ev.Input = r.GetInput().GetName(), r.GetMeta().GetUpdateId(), c.first(r.GetInput().GetArgs())
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
		a := e.GetWorkflowExecutionUpdateCompletedEventAttributes()
		ev.UpdateID, ev.AcceptedID = a.GetMeta().GetUpdateId(), a.GetAcceptedEventId()
		ev.Result, ev.Failure = c.first(a.GetOutcome().GetSuccess()), c.failure(a.GetOutcome().GetFailure())
	case enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
		ev.Attributes = searchAttributes(e.GetUpsertWorkflowSearchAttributesEventAttributes().GetSearchAttributes())
	case enumspb.EVENT_TYPE_TIMER_STARTED:
		a := e.GetTimerStartedEventAttributes()
		ev.Name, ev.Timeout = a.GetTimerId(), a.GetStartToFireTimeout().AsDuration()
	case enumspb.EVENT_TYPE_TIMER_FIRED:
		ev.Name = e.GetTimerFiredEventAttributes().GetTimerId()
	case enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED:
		ev.Failure = c.failure(e.GetWorkflowTaskFailedEventAttributes().GetFailure())
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
		ev.Result = c.first(e.GetWorkflowExecutionCompletedEventAttributes().GetResult())
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
		ev.Failure = c.failure(e.GetWorkflowExecutionFailedEventAttributes().GetFailure())
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
		ev.Failure = e.GetWorkflowExecutionTerminatedEventAttributes().GetReason()
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
		enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED:
	default:
		return Event{}, false
	}
	return ev, true
}

// first decodes the first of payloads to JSON; nil when there is none or it is not JSON.
func (c *Console) first(p *commonpb.Payloads) json.RawMessage {
	if len(p.GetPayloads()) == 0 {
		return nil
	}
	var raw json.RawMessage
	if err := c.DataConverter.FromPayload(p.GetPayloads()[0], &raw); err != nil {
		return nil
	}
	return raw
}

// failure is a failure's message, decoded (failure messages are encrypted with payloads);
// an application error's message without its type and retry state.
func (c *Console) failure(f *failurepb.Failure) string {
	if f == nil {
		return ""
	}
	err := c.FailureConverter.FailureToError(f)
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	return err.Error()
}

// searchAttributes decodes an upsert's attributes: Keyword as string, Datetime as time.Time,
// an unset attribute as nil.
func searchAttributes(sa *commonpb.SearchAttributes) map[string]any {
	out := map[string]any{}
	for name, p := range sa.GetIndexedFields() {
		if len(p.GetData()) == 0 || string(p.GetData()) == "null" {
			out[name] = nil
			continue
		}
		if name == workflows.SADueAt.GetName() {
			out[name] = saTime(sa.GetIndexedFields(), name)
			continue
		}
		out[name] = saString(sa.GetIndexedFields(), name)
	}
	return out
}
