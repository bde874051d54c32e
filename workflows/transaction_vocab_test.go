package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/vocab"
	"github.com/epcflow/epcflow/workflows"
)

// acme is a deployment's vocabulary: every name the workflow sends changed.
func acme(t *testing.T) vocab.Vocabulary {
	t.Helper()
	v, err := vocab.New(map[vocab.Key]string{
		vocab.ErrorMissingInput: "ACME-2001", vocab.ErrorInputTimeout: "ACME-2003", vocab.ErrorUnsupportedRequestType: "ACME-2002",
		vocab.EventProgress: "urn:elli:epc:partner:acme:progress", vocab.ServiceEventAppraisalDelivered: "ACME-APPRAISAL",
		vocab.StatusOrderReceived: "Received by ACME", vocab.StatusWaitingForInput: "ACME needs input",
		vocab.StatusAppraisalDelivered: "ACME report delivered", vocab.StatusSchedulingInspection: "ACME scheduling",
		vocab.StatusInspectionScheduled: "ACME scheduled",
	})
	require.NoError(t, err)
	return v
}

func withVocabulary(v vocab.Vocabulary) func(*fixture) {
	return func(f *fixture) {
		f.engine = workflows.NewEngine()
		f.engine.Vocabulary = v
	}
}

// TestVocabularyNamesWhatTheLenderGets: the workflow sends the configured names, the same
// commands as with the defaults.
func TestVocabularyNamesWhatTheLenderGets(t *testing.T) {
	f := newFixture(t, workflows.TypeAppraisal, withVocabulary(acme(t)))
	f.at(time.Hour, func() {
		f.update(workflows.UpdateSchedule, workflows.ScheduleInput{InspectionAt: time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)})
		f.update(workflows.UpdateProgress, workflows.ProgressInput{Text: "On the way"})
	})
	f.at(2*time.Hour, func() {
		f.update(workflows.UpdateDeliver, workflows.DeliverInput{Report: pdfRef, AppraisedValue: 500000})
	})
	f.run()

	var statuses []string
	for _, p := range f.p.patches {
		if p.PartnerStatus != "" {
			statuses = append(statuses, p.PartnerStatus)
		}
	}
	require.Equal(t, []string{"Received by ACME", "ACME scheduling", "ACME scheduled", "ACME report delivered"}, statuses)
	require.Equal(t, "ACME report delivered", f.status().PartnerStatus)
	types := []string{}
	for _, e := range f.p.events {
		types = append(types, e.Type)
	}
	// The scheduled event is [doc]: the default, whatever the file.
	require.ElementsMatch(t, []string{vocab.Default().Get(vocab.EventAppraisalScheduled), "urn:elli:epc:partner:acme:progress"}, types)
	require.Equal(t, "ACME-APPRAISAL", f.p.serviceSent[0].Events[0].Code)
}

func TestVocabularyErrorCodes(t *testing.T) {
	f := newFixture(t, workflows.TypeFloodCertification, withVocabulary(acme(t)))
	f.p.order.Property.City = ""
	res := f.run()
	require.Equal(t, "ACME-2001", f.p.patches[1].Errors[0].Code, "inputRequired")
	require.Equal(t, "ACME needs input", f.p.patches[1].PartnerStatus)
	require.Equal(t, epc.StatusFailed, res.ResponseStatus)
	require.Equal(t, "ACME-2003", res.Errors[0].Code, "the input did not come in time")

	f = newFixture(t, "Survey", withVocabulary(acme(t)))
	res = f.run()
	require.Equal(t, "ACME-2002", res.Errors[0].Code)
}
