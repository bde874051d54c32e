package workflows

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"go.temporal.io/sdk/workflow"

	"github.com/epcflow/epcflow/activities"
	"github.com/epcflow/epcflow/blobs"
	"github.com/epcflow/epcflow/vocab"
)

// Operator actions are updates: their validators answer the caller synchronously and
// precisely, and a rejected update leaves no trace in the history.

func (s *txState) checkOpen() error {
	if s.st.Closed || s.cancelRequested {
		why := s.st.Stage
		if s.cancelRequested {
			why = "canceled by the lender"
		}
		return fmt.Errorf("transaction %s is closed (%s): no further actions", s.in.TransactionID, why)
	}
	return nil
}

func (s *txState) checkAppraisal(action string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if s.product == nil {
		return fmt.Errorf("cannot %s yet: the order is still at stage %q", action, s.st.Stage)
	}
	if _, ok := s.product.(Appraisal); !ok {
		return fmt.Errorf("cannot %s: this is a %s order, not an Appraisal", action, s.st.RequestType)
	}
	return nil
}

// checkActor bounds the actor an action names, as the API does.
func checkActor(actor string) error {
	if utf8.RuneCountInString(actor) > MaxActorLen {
		return fmt.Errorf("actor is limited to %d characters", MaxActorLen)
	}
	return nil
}

func (s *txState) validateSchedule(in ScheduleInput) error {
	if err := s.checkAppraisal("schedule the inspection"); err != nil {
		return err
	}
	if err := checkActor(in.Actor); err != nil {
		return err
	}
	if s.schedule != nil {
		return fmt.Errorf("the inspection is already scheduled for %s", s.schedule.InspectionAt.UTC().Format("2006-01-02 15:04 MST"))
	}
	if in.InspectionAt.IsZero() {
		return errors.New("inspectionAt is required (RFC 3339 time)")
	}
	return nil
}

func (s *txState) onSchedule(ctx workflow.Context, in ScheduleInput) (ActionResult, error) {
	scheduleInspection(s, in)
	return ActionResult{Stage: s.st.Stage, Message: "inspection scheduled for " + in.InspectionAt.UTC().Format("2006-01-02 15:04 MST") + "; the lender is being notified"}, nil
}

func (s *txState) validateDeliver(in DeliverInput) error {
	if err := s.checkAppraisal("deliver the report"); err != nil {
		return err
	}
	if s.schedule == nil {
		return errors.New("schedule the inspection before delivering the report")
	}
	if s.delivery != nil {
		return errors.New("the report was already delivered")
	}
	var problems []error
	if err := checkActor(in.Actor); err != nil {
		problems = append(problems, err)
	}
	if in.Report.SHA256 == "" {
		problems = append(problems, errors.New("report: a PDF is required"))
	} else {
		if !blobs.ValidSHA256(in.Report.SHA256) {
			problems = append(problems, errors.New("report.sha256: must be 64 lowercase hex digits"))
		}
		if in.Report.MimeType != "application/pdf" {
			problems = append(problems, fmt.Errorf("report.mimeType: must be application/pdf, got %q", in.Report.MimeType))
		}
		if in.Report.Size <= 0 {
			problems = append(problems, errors.New("report.size: the PDF is empty"))
		}
	}
	if in.AppraisedValue <= 0 {
		problems = append(problems, errors.New("appraisedValue: must be a positive whole number of dollars"))
	}
	return errors.Join(problems...)
}

func (s *txState) onDeliver(ctx workflow.Context, in DeliverInput) (ActionResult, error) {
	s.delivery = &in
	s.st.Report = &in
	return ActionResult{Stage: s.st.Stage, Message: fmt.Sprintf("report accepted (appraised value $%d); uploading and completing", in.AppraisedValue)}, nil
}

func (s *txState) validateProgress(in ProgressInput) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if in.Text == "" {
		return errors.New("text is required")
	}
	if err := checkActor(in.Actor); err != nil {
		return err
	}
	// Characters, not bytes, as the API counts them: "é" is one character and two bytes.
	if utf8.RuneCountInString(in.Text) > 200 || utf8.RuneCountInString(in.Comments) > 2000 {
		return errors.New("text is limited to 200 characters and comments to 2000")
	}
	return nil
}

func (s *txState) onProgress(ctx workflow.Context, in ProgressInput) (ActionResult, error) {
	var ev activities.EventInfo
	if err := workflow.ExecuteActivity(withActivity(ctx, "post progress event", epcCall), ActivityPostEvent, activities.PostEventInput{
		TransactionID: s.in.TransactionID, Type: s.word(vocab.EventProgress), Text: in.Text, Comments: in.Comments,
	}).Get(ctx, &ev); err != nil {
		return ActionResult{}, err
	}
	s.addEvent(EventRecord{ID: ev.ID, Type: ev.Type, Text: ev.Text, Comments: ev.Comments, At: workflow.Now(ctx), Actor: in.Actor})
	return ActionResult{Stage: s.st.Stage, Message: "event " + ev.ID + " posted"}, nil
}
