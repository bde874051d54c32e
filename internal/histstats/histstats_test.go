package histstats_test

import (
	"os"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/proto"

	"github.com/epcflow/epcflow/internal/histstats"
)

func ev(t enumspb.EventType) *historypb.HistoryEvent {
	return &historypb.HistoryEvent{EventType: t}
}

// marker is a marker recorded by the workflow task completed as event wft.
func marker(name string, wft int64) *historypb.HistoryEvent {
	return &historypb.HistoryEvent{
		EventType: enumspb.EVENT_TYPE_MARKER_RECORDED,
		Attributes: &historypb.HistoryEvent_MarkerRecordedEventAttributes{MarkerRecordedEventAttributes: &historypb.MarkerRecordedEventAttributes{
			MarkerName: name, WorkflowTaskCompletedEventId: wft,
		}},
	}
}

func activityStarted(attempt int32) *historypb.HistoryEvent {
	return &historypb.HistoryEvent{
		EventType: enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED,
		Attributes: &historypb.HistoryEvent_ActivityTaskStartedEventAttributes{ActivityTaskStartedEventAttributes: &historypb.ActivityTaskStartedEventAttributes{
			Attempt: attempt,
		}},
	}
}

// wft is a workflow task's three events, which are no action.
func wft() []*historypb.HistoryEvent {
	return []*historypb.HistoryEvent{
		ev(enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED),
		ev(enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED),
		ev(enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
	}
}

func join(parts ...[]*historypb.HistoryEvent) []*historypb.HistoryEvent {
	var out []*historypb.HistoryEvent
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func one(e ...*historypb.HistoryEvent) []*historypb.HistoryEvent { return e }

func TestOf(t *testing.T) {
	tests := []struct {
		name    string
		events  []*historypb.HistoryEvent
		want    histstats.Counts
		actions int
	}{
		{
			name:    "empty",
			want:    histstats.Counts{},
			actions: 0,
		},
		{
			name: "one no-op activity: the floor",
			events: join(
				one(ev(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)), wft(),
				one(ev(enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED), activityStarted(1), ev(enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)),
				wft(), one(ev(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED)),
			),
			want:    histstats.Counts{Events: 11, Starts: 1, Activities: 1},
			actions: 2,
		},
		{
			name: "signal with start: a start and a signal",
			events: join(
				one(ev(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED), ev(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)), wft(),
			),
			want:    histstats.Counts{Events: 5, Starts: 1, SignalsReceived: 1},
			actions: 2,
		},
		{
			name: "local activities: one batch per workflow task, other markers not counted",
			events: join(
				wft(), one(marker(histstats.LocalActivityMarker, 4), marker(histstats.LocalActivityMarker, 4), marker("Version", 4)),
				wft(), one(marker(histstats.LocalActivityMarker, 9), marker("SideEffect", 9)),
			),
			want:    histstats.Counts{Events: 11, LocalActivities: 3, LocalActivityBatches: 2},
			actions: 2,
		},
		{
			name: "timers, updates, upserts, memo, child, external signal",
			events: one(
				ev(enumspb.EVENT_TYPE_TIMER_STARTED), ev(enumspb.EVENT_TYPE_TIMER_FIRED),
				ev(enumspb.EVENT_TYPE_TIMER_STARTED), ev(enumspb.EVENT_TYPE_TIMER_CANCELED),
				ev(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED), ev(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED),
				ev(enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES), ev(enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES),
				ev(enumspb.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED),
				ev(enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED), ev(enumspb.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED),
				ev(enumspb.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED), ev(enumspb.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED),
			),
			want: histstats.Counts{
				Events: 13, Timers: 2, Updates: 1, SearchAttrUpserts: 2, MemoUpserts: 1, ChildWorkflows: 1, SignalsSent: 1,
			},
			actions: 8,
		},
		{
			name: "retried activity: one action, retries apart",
			events: one(
				ev(enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED), activityStarted(3), ev(enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED),
			),
			want:    histstats.Counts{Events: 3, Activities: 1, ActivityRetries: 2},
			actions: 1,
		},
		{
			name: "continued as new: the run's start counts, the next run's is in its own history",
			events: join(
				one(ev(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)), wft(),
				one(ev(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW)),
			),
			want:    histstats.Counts{Events: 5, Starts: 1},
			actions: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &historypb.History{Events: tt.events}
			got := histstats.Of(h)
			want := tt.want
			want.Bytes = proto.Size(h)
			if got != want {
				t.Errorf("Of() = %+v\nwant   %+v", got, want)
			}
			if a := got.Actions(); a != tt.actions {
				t.Errorf("Actions() = %d, want %d", a, tt.actions)
			}
			byEvents := histstats.Events(tt.events)
			if byEvents.Events != got.Events || byEvents.Actions() != got.Actions() {
				t.Errorf("Events() = %+v, want the same counts as Of()", byEvents)
			}
		})
	}
}

func TestBytesGrowWithPayloads(t *testing.T) {
	small := histstats.Of(&historypb.History{Events: one(ev(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED))})
	big := histstats.Of(&historypb.History{Events: one(&historypb.HistoryEvent{
		EventType: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
		Attributes: &historypb.HistoryEvent_WorkflowExecutionSignaledEventAttributes{WorkflowExecutionSignaledEventAttributes: &historypb.WorkflowExecutionSignaledEventAttributes{
			SignalName: "webhook-with-a-long-name-to-weigh-something",
		}},
	})})
	if small.Bytes <= 0 || big.Bytes <= small.Bytes {
		t.Errorf("bytes: small %d, big %d; want 0 < small < big", small.Bytes, big.Bytes)
	}
}

func TestAdd(t *testing.T) {
	a := histstats.Counts{Events: 3, Bytes: 10, Starts: 1, Activities: 2, Timers: 1, ActivityRetries: 1}
	b := histstats.Counts{Events: 4, Bytes: 5, SignalsReceived: 2, LocalActivityBatches: 1, MemoUpserts: 1}
	got := a.Add(b)
	want := histstats.Counts{Events: 7, Bytes: 15, Starts: 1, Activities: 2, Timers: 1, ActivityRetries: 1, SignalsReceived: 2, LocalActivityBatches: 1, MemoUpserts: 1}
	if got != want {
		t.Errorf("Add() = %+v, want %+v", got, want)
	}
	if got.Actions() != a.Actions()+b.Actions() {
		t.Errorf("Actions of a sum = %d, want %d", got.Actions(), a.Actions()+b.Actions())
	}
}

// TestFloodHistory counts a real flood order's history (the replay test's), whose event
// types were tallied by hand with jq: 1 start, 7 signals, 12 activities, 10 upserts.
func TestFloodHistory(t *testing.T) {
	f, err := os.Open("../../workflows/testdata/histories/transaction/flood-completed.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := histstats.Of(h)
	want := histstats.Counts{Events: 88, Bytes: proto.Size(h), Starts: 1, SignalsReceived: 7, Activities: 12, SearchAttrUpserts: 10}
	if got != want {
		t.Errorf("Of() = %+v\nwant   %+v", got, want)
	}
	if got.Actions() != 30 {
		t.Errorf("Actions() = %d, want 30", got.Actions())
	}
}
