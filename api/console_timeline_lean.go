package api

import (
	"encoding/json"

	"github.com/epcflow/epcflow/activities"
	"github.com/epcflow/epcflow/blobs"
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/starter"
	"github.com/epcflow/epcflow/workflows"
)

// activityEntries describes a completed activity. The lean order's combined steps
// (activities/transaction_steps.go) are told as the steps they did, each as the order that
// ran it alone shows it, so an operator reads every order's timeline alike.
func activityEntries(s starter.Event, result json.RawMessage) []timelineEntry {
	switch s.Name {
	case workflows.ActivityAcknowledgeAndGather:
		var out activities.IntakeOutcome
		_ = json.Unmarshal(result, &out)
		in := s.Input
		if len(in) == 0 { // run local: the acknowledgement as it applied
			in = asJSON(activities.PatchInput{Patch: epc.Response{Status: out.Ack.Info.ResponseStatus, ReferenceNumber: out.Ack.Info.ResponseReference}})
		}
		es := []timelineEntry{activityEntry(step(workflows.ActivityPatchResponse, "", in), asJSON(out.Ack))}
		if out.Order != nil {
			es = append(es, activityEntry(step(workflows.ActivityGatherData, "gather order data", nil), asJSON(out.Order)))
		}
		return es
	case workflows.ActivitySendAndAwaitOutcome:
		var out activities.ServiceEventsResult
		_ = json.Unmarshal(result, &out)
		es := []timelineEntry{activityEntry(step(workflows.ActivitySendServiceEvents, "", s.Input), asJSON(out.Sent))}
		if out.Outcome != nil {
			es = append(es, activityEntry(step(workflows.ActivityAwaitServiceOutcome, "service events outcome", nil), asJSON(out.Outcome)))
		}
		return es
	case workflows.ActivityUploadAndComplete:
		var in activities.CompleteInput
		var out activities.CompleteOutcome
		_ = json.Unmarshal(s.Input, &in)
		_ = json.Unmarshal(result, &out)
		var es []timelineEntry
		for i, r := range out.Resources { // the files uploaded, in the order of in.Files
			f := blobs.File{Name: r.Name, MimeType: r.MimeType} // run local: no input recorded
			if i < len(in.Files) {
				f = in.Files[i]
			}
			up := activities.UploadInput{TransactionID: in.TransactionID, File: f}
			es = append(es, activityEntry(step(workflows.ActivityUploadFile, "", asJSON(up)), asJSON(r)))
		}
		if out.Complete.Applied || out.Complete.Info.CanceledEventID == "" {
			patch := in.Patch
			if len(s.Input) == 0 && out.Complete.Applied {
				patch.Status = out.Complete.Info.ResponseStatus
			}
			patch.Resources = append([]epc.Resource(nil), out.Resources...)
			pin := activities.PatchInput{TransactionID: in.TransactionID, Patch: patch}
			es = append(es, activityEntry(step(workflows.ActivityPatchResponse, "", asJSON(pin)), asJSON(out.Complete)))
		}
		return es
	}
	return []timelineEntry{activityEntry(s, result)}
}

// step is one step of a combined activity, as its own activity would have been scheduled.
func step(name, summary string, input json.RawMessage) starter.Event {
	return starter.Event{Name: name, Summary: summary, Input: input}
}

func asJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

// orderData is the order an activity's result read, if it read one: GatherData's, or the
// lean order's AcknowledgeAndGather's.
func orderData(name string, result json.RawMessage) json.RawMessage {
	switch name {
	case workflows.ActivityGatherData:
		return result
	case workflows.ActivityAcknowledgeAndGather:
		var out struct {
			Order json.RawMessage `json:"order"`
		}
		if json.Unmarshal(result, &out) == nil && len(out.Order) > 0 && string(out.Order) != "null" {
			return out.Order
		}
	}
	return nil
}
