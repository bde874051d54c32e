package api

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/epcflow/epcflow/activities"
	"github.com/epcflow/epcflow/blobs"
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/starter"
	"github.com/epcflow/epcflow/workflows"
)

// An order's timeline, read from its workflow's history: every step epcflow took, every
// PATCH, event and file the lender received, every webhook and operator action (with who
// acted), in time order.

// Kinds of timeline entries, as the page marks them.
const (
	kindLender   = "lender"   // the lender received it: a PATCH, an event, a file, service events
	kindOperator = "operator" // a person acted
	kindWebhook  = "webhook"  // EPC told us something
	kindStep     = "step"     // epcflow's own work
	kindStage    = "stage"    // the order moved on
	kindProblem  = "problem"  // something failed or is being retried
)

// timelineEntry is one line of the timeline.
type timelineEntry struct {
	At      time.Time
	Kind    string
	Title   string
	Detail  string
	Actor   string
	Retries string // attempts beyond the first, and the last error
	Pending bool   // under way (or waiting to be retried) now
	// Routine: epcflow's bookkeeping (webhooks read back, stages), which the page can hide.
	Routine bool
	// About is a time the entry is about (an inspection, a due date), shown before Detail
	// after AboutLabel, in the reader's zone.
	About      time.Time
	AboutLabel string
}

// minShownTimer: shorter timers (re-reads, backoffs) would only clutter the timeline.
const minShownTimer = time.Hour

// buildTimeline turns a history into the timeline.
func buildTimeline(h starter.OrderHistory) []timelineEntry {
	var (
		out       []timelineEntry
		scheduled = map[int64]starter.Event{}
		started   = map[int64]starter.Event{}
		done      = map[int64]bool{}
		accepted  = map[int64]starter.Event{}
	)
	for _, e := range h.Events {
		switch e.Type {
		case "WorkflowExecutionStarted":
			var in workflows.TransactionInput
			_ = json.Unmarshal(e.Input, &in)
			out = append(out, timelineEntry{At: e.Time, Kind: kindStep, Title: "Order received",
				Detail: joinNonEmpty("; ", "EPC transaction "+in.TransactionID, prefixed("EPC instance ", in.InstanceID))})
		case "WorkflowExecutionSignaled":
			out = append(out, signalEntry(e))
		case "ActivityTaskScheduled":
			scheduled[e.ID] = e
		case "ActivityTaskStarted":
			started[e.ScheduledID] = e
		case "ActivityTaskCompleted":
			done[e.ScheduledID] = true
			for i, t := range activityEntries(scheduled[e.ScheduledID], e.Result) {
				t.At = e.Time
				if i == 0 {
					t.Retries = retries(started[e.ScheduledID])
				}
				out = append(out, t)
			}
		case "MarkerRecorded": // a local activity's run, in one event
			if e.Failure != "" {
				out = append(out, timelineEntry{At: e.Time, Kind: kindProblem, Title: activityName(e) + " failed", Detail: e.Failure, Retries: retries(e)})
				continue
			}
			for i, t := range activityEntries(e, e.Result) {
				t.At = e.Time
				if i == 0 && e.Attempt > 1 {
					t.Retries = fmt.Sprintf("%d attempts", e.Attempt)
				}
				out = append(out, t)
			}
		case "ActivityTaskFailed", "ActivityTaskTimedOut", "ActivityTaskCanceled":
			done[e.ScheduledID] = true
			s := scheduled[e.ScheduledID]
			what := "failed"
			if e.Type == "ActivityTaskCanceled" {
				what = "canceled"
			}
			out = append(out, timelineEntry{At: e.Time, Kind: kindProblem, Title: activityName(s) + " " + what, Detail: e.Failure, Retries: retries(started[e.ScheduledID])})
		case "WorkflowExecutionUpdateAccepted":
			accepted[e.ID] = e
			out = append(out, actionEntry(e))
		case "WorkflowExecutionUpdateCompleted":
			if e.Failure != "" {
				out = append(out, timelineEntry{At: e.Time, Kind: kindProblem, Title: actionTitle(accepted[e.AcceptedID].Name) + " failed", Detail: e.Failure})
			}
		case "UpsertWorkflowSearchAttributes":
			if t, ok := stageEntry(e); ok {
				out = append(out, t)
			}
		case "TimerStarted":
			if e.Timeout >= minShownTimer {
				out = append(out, timelineEntry{At: e.Time, Kind: kindStep, Title: "Waiting up to " + formatDuration(e.Timeout)})
			}
		case "WorkflowTaskFailed":
			out = append(out, timelineEntry{At: e.Time, Kind: kindProblem, Title: "The workflow's code failed (it is retried)", Detail: e.Failure})
		default:
			if t, ok := closeEntry(e); ok {
				out = append(out, t)
			}
		}
	}
	// Activities under way: the last part of the timeline, with their retries.
	for _, e := range h.Events {
		if e.Type != "ActivityTaskScheduled" || done[e.ID] {
			continue
		}
		t := timelineEntry{At: e.Time, Kind: kindStep, Title: activityName(e) + ": under way", Pending: true}
		for _, p := range h.Pending {
			if p.ActivityID == e.ActivityID && p.Attempt > 1 {
				t.Kind = kindProblem
				t.Retries = fmt.Sprintf("attempt %d", p.Attempt)
				if !p.NextAttemptAt.IsZero() {
					t.Retries += ", next " + formatWhen(p.NextAttemptAt, time.UTC)
				}
				t.Detail = p.LastFailure
			}
		}
		out = append(out, t)
	}
	return out
}

func prefixed(prefix, v string) string {
	if v == "" {
		return ""
	}
	return prefix + v
}

// retries says how many attempts an activity took beyond the first, and the last error.
func retries(started starter.Event) string {
	if started.Attempt <= 1 {
		return ""
	}
	return fmt.Sprintf("%d attempts; the last error before: %s", started.Attempt, started.Failure)
}

func activityName(s starter.Event) string {
	if s.Summary != "" {
		return strings.ToUpper(s.Summary[:1]) + s.Summary[1:]
	}
	if s.Name != "" {
		return s.Name
	}
	return "A step"
}

func signalEntry(e starter.Event) timelineEntry {
	t := timelineEntry{At: e.Time, Kind: kindWebhook, Title: "Signal " + e.Name, Routine: true}
	if e.Name != workflows.SignalWebhook {
		return t
	}
	var w workflows.WebhookSignal
	_ = json.Unmarshal(e.Input, &w)
	switch {
	case w.ResourceType == epc.ResourceTransaction && w.EventType == epc.WebhookCreated:
		t.Title, t.Routine = "EPC: the lender placed the order", false
	case w.ResourceType == epc.ResourceTransaction && w.EventType == epc.WebhookUpdated:
		t.Title, t.Routine = "EPC: the lender updated the request", false
	case w.ResourceType == epc.ResourceTransactionEvent:
		t.Title = "EPC: a transaction event"
	default:
		t.Title = "EPC webhook"
	}
	t.Detail = joinNonEmpty("; ", w.ResourceType+" "+w.EventType, prefixed("event id ", w.EventID))
	return t
}

// activityEntry describes a completed activity from its input and result.
func activityEntry(s starter.Event, result json.RawMessage) timelineEntry {
	t := timelineEntry{Kind: kindStep, Title: activityName(s)}
	switch s.Name {
	case workflows.ActivityInspectTransaction, workflows.ActivityReadEvent:
		t.Routine = true
	case workflows.ActivityPatchResponse:
		var in activities.PatchInput
		var out activities.PatchOutcome
		_ = json.Unmarshal(s.Input, &in)
		_ = json.Unmarshal(result, &out)
		p := in.Patch
		t.Kind, t.Title = kindLender, "PATCH response"
		if p.Status != "" {
			t.Title += ": " + p.Status
		}
		var errs []string
		for _, e := range p.Errors {
			errs = append(errs, joinNonEmpty(" ", e.Code, prefixed("at ", e.FieldID)))
		}
		var files []string
		for _, r := range p.Resources {
			files = append(files, r.Name)
		}
		t.Detail = joinNonEmpty("; ", prefixed("status ", p.Status), quotedPrefixed("partner status ", p.PartnerStatus),
			prefixed("reference ", p.ReferenceNumber), prefixed("errors: ", strings.Join(errs, ", ")),
			prefixed("files: ", strings.Join(files, ", ")), map[bool]string{true: "loan data"}[len(p.Loan) > 0])
		if result != nil && !out.Applied {
			t.Detail += " (not applied: the transaction was already closed)"
		}
	case workflows.ActivityPostEvent, workflows.ActivityReleaseInspection:
		var in activities.PostEventInput
		var out activities.EventInfo
		_ = json.Unmarshal(s.Input, &in)
		_ = json.Unmarshal(result, &out)
		t.Kind, t.Title = kindLender, "Event to the lender: "+firstNonEmpty(in.Text, out.Text)
		t.Detail = joinNonEmpty("; ", firstNonEmpty(in.Comments, out.Comments), firstNonEmpty(in.Type, out.Type), prefixed("event id ", out.ID))
	case workflows.ActivityUploadFile:
		var in activities.UploadInput
		var out epc.Resource
		_ = json.Unmarshal(s.Input, &in)
		_ = json.Unmarshal(result, &out)
		t.Kind, t.Title = kindLender, "File to the lender: "+in.File.Name
		t.Detail = joinNonEmpty("; ", formatBytes(in.File.Size), in.File.MimeType, prefixed("resource ", out.ID))
	case workflows.ActivitySendServiceEvents:
		var in activities.ServiceEventsInput
		_ = json.Unmarshal(s.Input, &in)
		var evs []string
		for _, e := range in.Events {
			evs = append(evs, e.Code+" “"+e.Title+"”")
		}
		t.Kind, t.Title, t.Detail = kindLender, "Service events to the lender", strings.Join(evs, ", ")
	case workflows.ActivityAwaitServiceOutcome:
		var out activities.ServiceOutcome
		_ = json.Unmarshal(result, &out)
		t.Detail = fmt.Sprintf("%s: %d succeeded, %d failed, %d skipped", out.Status, len(out.Success), len(out.Failure), len(out.Skipped))
	case workflows.ActivityGatherData:
		var out activities.OrderData
		_ = json.Unmarshal(result, &out)
		creds := "the lender user's credentials are valid"
		if !out.CredentialsValid {
			creds = "credentials refused: " + out.CredentialsProblem
		}
		t.Detail = joinNonEmpty("; ", out.RequestType, prefixed("loan ", out.LoanNumber), address(out.Property), creds,
			fmt.Sprintf("%d attachment(s)", len(out.Attachments)))
	case workflows.ActivityDetermineFlood:
		var out activities.FloodDetermination
		_ = json.Unmarshal(result, &out)
		t.Detail = joinNonEmpty("; ", prefixed("zone ", out.Zone), prefixed("determination ", out.DeterminationID))
	case workflows.ActivityGenerateFloodCertificate:
		var out blobs.File
		_ = json.Unmarshal(result, &out)
		t.Detail = joinNonEmpty("; ", out.Name, formatBytes(out.Size))
	}
	return t
}

func quotedPrefixed(prefix, v string) string {
	if v == "" {
		return ""
	}
	return prefix + "“" + v + "”"
}

// address is a property's address on one line.
func address(p activities.Property) string {
	return joinNonEmpty(", ", p.StreetAddress, p.City, joinNonEmpty(" ", p.State, p.PostalCode))
}

// actionEntry is an operator's action (an accepted update), with who acted.
func actionEntry(e starter.Event) timelineEntry {
	t := timelineEntry{At: e.Time, Kind: kindOperator, Title: actionTitle(e.Name)}
	switch e.Name {
	case workflows.UpdateSchedule:
		var in workflows.ScheduleInput
		_ = json.Unmarshal(e.Input, &in)
		t.Actor = in.Actor
		t.About, t.AboutLabel = in.InspectionAt, "for"
		t.Detail = joinNonEmpty("; ", prefixed("with ", in.Appraiser), in.Comments)
	case workflows.UpdateDeliver:
		var in workflows.DeliverInput
		_ = json.Unmarshal(e.Input, &in)
		t.Actor = in.Actor
		t.Detail = joinNonEmpty("; ", "appraised value "+formatDollars(in.AppraisedValue),
			formatBytes(in.Report.Size)+" PDF", in.AppraisalType, in.Comments)
	case workflows.UpdateProgress:
		var in workflows.ProgressInput
		_ = json.Unmarshal(e.Input, &in)
		t.Actor = in.Actor
		t.Detail = joinNonEmpty(": ", "“"+in.Text+"”", in.Comments)
	}
	return t
}

func actionTitle(update string) string {
	switch update {
	case workflows.UpdateSchedule:
		return "Inspection scheduled"
	case workflows.UpdateDeliver:
		return "Report delivered"
	case workflows.UpdateProgress:
		return "Progress note"
	}
	return "Action " + update
}

// stageEntry is a stage change (an upsert of EpcStage).
func stageEntry(e starter.Event) (timelineEntry, bool) {
	stage, ok := e.Attributes[workflows.SAStage.GetName()].(string)
	if !ok {
		return timelineEntry{}, false
	}
	t := timelineEntry{At: e.Time, Kind: kindStage, Title: "Stage: " + stage, Routine: true}
	if due, ok := e.Attributes[workflows.SADueAt.GetName()].(time.Time); ok {
		t.About, t.AboutLabel = due, "due"
	}
	return t, true
}

// closeEntry is how the workflow ended.
func closeEntry(e starter.Event) (timelineEntry, bool) {
	t := timelineEntry{At: e.Time, Kind: kindProblem, Detail: e.Failure}
	switch e.Type {
	case "WorkflowExecutionCompleted":
		var res workflows.TransactionResult
		_ = json.Unmarshal(e.Result, &res)
		t.Kind, t.Title = kindStep, "Order closed: "+res.ResponseStatus
		t.Detail = quotedPrefixed("partner status ", res.PartnerStatus)
	case "WorkflowExecutionFailed":
		t.Title = "The workflow failed"
	case "WorkflowExecutionTerminated":
		t.Title = "The workflow was terminated"
	case "WorkflowExecutionTimedOut":
		t.Title = "The workflow timed out"
	case "WorkflowExecutionCanceled":
		t.Title = "The workflow was canceled"
	case "WorkflowExecutionCancelRequested":
		t.Title = "Cancellation of the workflow requested"
	case "WorkflowExecutionContinuedAsNew":
		t.Kind, t.Title = kindStep, "Continued in a new run"
	default:
		return timelineEntry{}, false
	}
	return t, true
}

func formatDuration(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	if d%time.Hour == 0 {
		return fmt.Sprintf("%d hours", d/time.Hour)
	}
	return d.String()
}
