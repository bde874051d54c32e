package workflows

import (
	"encoding/json"
	"fmt"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/epcflow/epcflow/activities"
	"github.com/epcflow/epcflow/blobs"
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/vocab"
)

// Product fulfils one EPC request type. Its methods run in workflow code: deterministic, with
// every side effect an activity.
type Product interface {
	// Requirements lists the input the lender must supply before work can start (sent as
	// errors[] with inputRequired, coded in v); empty when the order is workable.
	Requirements(o activities.OrderData, v vocab.Vocabulary) []epc.ErrorItem
	// Work does the product's work and returns what to deliver. A step that promises the
	// lender something registers what undoes it (txState.addCompensation), for a
	// cancellation.
	Work(ctx workflow.Context, s *txState) (Delivery, error)
}

// Delivery is what a product hands back to the lender.
type Delivery struct {
	// PartnerStatus is the vocabulary's key of the completed order's partner status.
	PartnerStatus vocab.Key
	// Loan is the PLM loan data sent with the completed response.
	Loan          json.RawMessage
	ServiceEvents []epc.ServiceEvent
	Files         []blobs.File
}

// Request types of the shipped products.
const (
	TypeAppraisal          = "Appraisal"
	TypeFloodCertification = "FloodCertification"
)

// The partner event types the products post, the service-event codes and the partner
// statuses they send are the vocabulary's (vocab.Event*, vocab.ServiceEvent*, vocab.Status*).

// DefaultProducts are the products epcflow ships.
func DefaultProducts() map[string]Product {
	return map[string]Product{
		TypeAppraisal:          Appraisal{},
		TypeFloodCertification: FloodCertification{},
	}
}

// NewEngine returns an engine with the default products.
func NewEngine() *Engine { return &Engine{Products: DefaultProducts()} }

// propertyRequirements asks for the subject property's address fields that are missing.
func propertyRequirements(o activities.OrderData, v vocab.Vocabulary, product string) []epc.ErrorItem {
	p := o.Property
	fields := []struct{ name, value string }{
		{"streetAddress", p.StreetAddress}, {"city", p.City}, {"state", p.State}, {"postalCode", p.PostalCode},
	}
	var out []epc.ErrorItem
	for _, f := range fields {
		if strings.TrimSpace(f.value) == "" {
			out = append(out, epc.ErrorItem{
				Code:        v.Get(vocab.ErrorMissingInput),
				Description: fmt.Sprintf("%s needs the subject property's %s (loan.property.%s)", product, f.name, f.name),
				Type:        epc.ErrorTypePartner,
				FieldID:     "loan.property." + f.name,
			})
		}
	}
	return out
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only called with plain structs and maps
	}
	return b
}

// FloodCertification determines the flood zone and delivers a certificate, automatically.
type FloodCertification struct{}

// Requirements implements Product.
func (FloodCertification) Requirements(o activities.OrderData, v vocab.Vocabulary) []epc.ErrorItem {
	return propertyRequirements(o, v, TypeFloodCertification)
}

// Work implements Product.
func (FloodCertification) Work(ctx workflow.Context, s *txState) (Delivery, error) {
	o := s.order
	var det activities.FloodDetermination
	if err := s.localWork(ctx, "determine flood zone", ActivityDetermineFlood, activities.FloodInput{
		TransactionID: s.in.TransactionID, LoanNumber: o.LoanNumber, Property: o.Property,
	}, &det); err != nil {
		return Delivery{}, err
	}
	s.st.Flood = &det
	var cert blobs.File
	if err := s.localWork(ctx, "generate flood certificate", ActivityGenerateFloodCertificate, activities.CertificateInput{
		TransactionID: s.in.TransactionID, LoanNumber: o.LoanNumber, Property: o.Property, Determination: det, IssuedAt: workflow.Now(ctx),
	}, &cert); err != nil {
		return Delivery{}, err
	}
	sfha := "outside"
	if det.SpecialFloodHazard {
		sfha = "inside"
	}
	return Delivery{
		PartnerStatus: vocab.StatusFloodDelivered,
		Loan: mustJSON(map[string]any{"property": map[string]any{
			"floodZoneIdentifier":             det.Zone,
			"specialFloodHazardAreaIndicator": det.SpecialFloodHazard,
			"nfipCommunityIdentifier":         det.CommunityNumber,
			"nfipMapPanelIdentifier":          det.MapPanel,
			"floodCertificationIdentifier":    det.DeterminationID,
			"floodInsuranceRequiredIndicator": det.InsuranceRequired,
		}}),
		ServiceEvents: []epc.ServiceEvent{{
			Code:        s.word(vocab.ServiceEventFloodDetermined),
			Title:       "Flood zone " + det.Zone + " determined",
			Description: "The property is " + sfha + " a Special Flood Hazard Area (zone " + det.Zone + ").",
			ReferenceID: det.DeterminationID,
		}},
		Files: []blobs.File{cert},
	}, nil
}

// Appraisal is human in the loop: an operator schedules the inspection, then delivers the
// report and the appraised value.
type Appraisal struct{}

// AppraisalReportName is the file name of the appraisal report resource.
const AppraisalReportName = "AppraisalReport.pdf"

// Requirements implements Product.
func (Appraisal) Requirements(o activities.OrderData, v vocab.Vocabulary) []epc.ErrorItem {
	return propertyRequirements(o, v, TypeAppraisal)
}

// Work implements Product: the inspection is scheduled (and announced), then the report is
// delivered. A run continued while waiting for the report has done the rest.
func (Appraisal) Work(ctx workflow.Context, s *txState) (Delivery, error) {
	if !s.resuming(atReport) {
		if err := awaitSchedule(ctx, s); err != nil {
			return Delivery{}, err
		}
		if err := announceSchedule(ctx, s, *s.schedule); err != nil {
			return Delivery{}, err
		}
		s.setStage(ctx, StageAwaitReport, "operator: deliver the report and appraised value")
	}
	if err := s.waitAt(ctx, atReport, func() bool { return s.delivery != nil }); err != nil {
		return Delivery{}, err
	}
	return appraisalDelivery(ctx, s, *s.delivery), nil
}

// awaitSchedule waits for the operator to schedule the inspection, unless they already have.
func awaitSchedule(ctx workflow.Context, s *txState) error {
	if s.schedule != nil {
		return nil
	}
	if !s.resuming(atSchedule) {
		s.setStage(ctx, StageAwaitSchedule, "operator: schedule the inspection")
		if _, err := s.patch(ctx, "partner status", vocab.StatusSchedulingInspection, epc.Response{}, false); err != nil {
			return err
		}
	}
	return s.waitAt(ctx, atSchedule, func() bool { return s.schedule != nil })
}

// scheduleInspection takes the operator's appointment (the schedule-inspection update). From
// then on the inspection is promised to the lender: a cancellation releases it.
func scheduleInspection(s *txState, in ScheduleInput) {
	s.schedule = &in
	s.st.Inspection = &in
	s.addCompensation(func(ctx workflow.Context) error { return releaseInspection(ctx, s, in) })
}

// announceSchedule tells the lender about the appointment: a partner event and the partner
// status.
func announceSchedule(ctx workflow.Context, s *txState, sch ScheduleInput) error {
	comments := "Appraisal appointment scheduled for " + sch.InspectionAt.UTC().Format("01/02/2006 at 15:04 MST")
	if sch.Appraiser != "" {
		comments += " with " + sch.Appraiser
	}
	if sch.Comments != "" {
		comments += ". " + sch.Comments
	}
	var ev activities.EventInfo
	if err := workflow.ExecuteActivity(withActivity(ctx, "post inspection scheduled", epcCall), ActivityPostEvent, activities.PostEventInput{
		TransactionID: s.in.TransactionID, Type: s.word(vocab.EventAppraisalScheduled), Text: "Inspection Scheduled", Comments: comments,
	}).Get(ctx, &ev); err != nil {
		return err
	}
	s.addEvent(EventRecord{ID: ev.ID, Type: ev.Type, Text: ev.Text, Comments: ev.Comments, At: workflow.Now(ctx), Actor: sch.Actor})
	_, err := s.patch(ctx, "partner status", vocab.StatusInspectionScheduled, epc.Response{}, false)
	return err
}

// appraisalDelivery is what the lender gets for the delivered report. A delivery that does
// not say when the appraisal was completed is dated now, and the order's report says so.
func appraisalDelivery(ctx workflow.Context, s *txState, d DeliverInput) Delivery {
	completed := d.CompletedAt
	if completed.IsZero() {
		completed = workflow.Now(ctx)
		if s.st.Report != nil && s.st.Report.CompletedAt.IsZero() {
			s.st.Report.CompletedAt = completed
		}
	}
	appraisalType := d.AppraisalType
	if appraisalType == "" {
		appraisalType = "Form 1004 appraisal with interior/exterior"
	}
	report := d.Report
	report.Name = AppraisalReportName
	report.MimeType = "application/pdf"
	return Delivery{
		PartnerStatus: vocab.StatusAppraisalDelivered,
		Loan: mustJSON(map[string]any{
			"propertyAppraisedValueAmount": fmt.Sprintf("%d", d.AppraisedValue),
			"underwriterSummary": map[string]any{
				"appraisalType":          appraisalType,
				"appraisalCompletedDate": completed.UTC().Format("2006-01-02T15:04:05Z"),
			},
		}),
		ServiceEvents: []epc.ServiceEvent{{
			Code:        s.word(vocab.ServiceEventAppraisalDelivered),
			Title:       "Appraisal report delivered",
			Description: fmt.Sprintf("Appraised value $%d (%s).", d.AppraisedValue, appraisalType),
			ReferenceID: s.st.ReferenceNumber,
		}},
		Files: []blobs.File{report},
	}
}

// releaseInspection tells the lender the scheduled inspection is released.
func releaseInspection(ctx workflow.Context, s *txState, in ScheduleInput) error {
	var ev activities.EventInfo
	err := workflow.ExecuteActivity(withActivity(ctx, "release inspection", epcCall), ActivityReleaseInspection, activities.ReleaseInput{
		TransactionID: s.in.TransactionID, Appraiser: in.Appraiser, InspectionAt: in.InspectionAt,
	}).Get(ctx, &ev)
	if err != nil {
		return err
	}
	s.addEvent(EventRecord{ID: ev.ID, Type: ev.Type, Text: ev.Text, Comments: ev.Comments, At: workflow.Now(ctx)})
	return nil
}
