package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/epcflow/epcflow/activities"
	"github.com/epcflow/epcflow/vocab"
)

// What the Temporal UI and visibility show of a transaction: its search attributes (names in
// names.go) and the execution's "current details".

// learn copies what an activity read about the transaction into the status and search
// attributes.
func (s *txState) learn(ctx workflow.Context, info activities.TxInfo) {
	var upd []temporal.SearchAttributeUpdate
	set := func(dst *string, v string, key temporal.SearchAttributeKeyKeyword) {
		if v != "" && *dst != v {
			*dst = v
			upd = append(upd, key.ValueSet(v))
		}
	}
	if info.ClientID != "" {
		s.st.ClientID = info.ClientID
		set(&s.clientSA, info.ClientID, SAClientID)
	}
	set(&s.st.Product, info.Product, SAProduct)
	set(&s.st.RequestType, info.RequestType, SARequestType)
	set(&s.st.LoanNumber, info.LoanNumber, SALoanNumber)
	if info.ResponseStatus != "" {
		s.st.ResponseStatus = info.ResponseStatus
	}
	if len(upd) > 0 {
		upd = append(upd, SATransactionID.ValueSet(s.in.TransactionID))
		s.learnedPending = true
		s.upsert(ctx, upd...)
	}
}

// setPartnerStatus records the partner status of key k; the upsert happens when the key
// changes (keys, not values: see txState.partnerStatus).
func (s *txState) setPartnerStatus(ctx workflow.Context, k vocab.Key) {
	if s.partnerStatus == k {
		return
	}
	s.partnerStatus = k
	s.st.PartnerStatus = s.word(k)
	s.upsert(ctx, SAPartnerStatus.ValueSet(s.st.PartnerStatus))
	s.details(ctx)
}

func (s *txState) setStage(ctx workflow.Context, stage, waitingFor string) {
	if s.st.Stage == stage && s.st.WaitingFor == waitingFor {
		return
	}
	s.st.Stage, s.st.WaitingFor = stage, waitingFor
	upd := []temporal.SearchAttributeUpdate{SAStage.ValueSet(stage), SATransactionID.ValueSet(s.in.TransactionID)}
	// The due date rides on the stage's upsert: the workflow's commands stay the ones they
	// were (a replay compares an upsert's type, not its attributes), so no version is needed.
	if due, ok := s.dueUpdate(ctx, stage); ok {
		upd = append(upd, due)
	}
	s.upsert(ctx, upd...)
	s.details(ctx)
	s.log.Info("stage", "stage", stage, "waitingFor", waitingFor)
}

// dueUpdate sets EpcDueAt for a stage that has a due date and unsets it, once, after one;
// false when there is nothing to change (an order that never had one never touches it).
func (s *txState) dueUpdate(ctx workflow.Context, stage string) (temporal.SearchAttributeUpdate, bool) {
	var due time.Time
	switch {
	case stage == StageInputRequired:
		due = workflow.Now(ctx).Add(s.in.InputDeadline).UTC()
	case stage == StageAwaitReport && s.schedule != nil:
		due = s.schedule.InspectionAt.UTC()
	}
	switch {
	case !due.IsZero():
		s.st.DueAt = due
		return SADueAt.ValueSet(due), true
	case !s.st.DueAt.IsZero():
		s.st.DueAt = time.Time{}
		return SADueAt.ValueUnset(), true
	}
	return nil, false
}

func (s *txState) upsert(ctx workflow.Context, upd ...temporal.SearchAttributeUpdate) {
	if s.isLean {
		s.pendingSA = append(s.pendingSA, upd...) // flushSearchAttributes: the last of a key wins
		return
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, upd...); err != nil {
		s.log.Warn("upsert search attributes failed", "error", err)
	}
}

// details keeps the execution's "current details" readable in the Temporal UI.
func (s *txState) details(ctx workflow.Context) {
	st := s.st
	var b strings.Builder
	fmt.Fprintf(&b, "**EPC transaction** `%s`\n\n", st.TransactionID)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "- %s: %s\n", k, v)
		}
	}
	row("Product", st.RequestType)
	row("Loan", st.LoanNumber)
	row("Lender client", st.ClientID)
	row("EPC instance", st.InstanceID)
	row("Reference", st.ReferenceNumber)
	row("Stage", st.Stage)
	row("Waiting for", st.WaitingFor)
	row("Partner status", st.PartnerStatus)
	row("Response status", st.ResponseStatus)
	row("Last error", st.LastError)
	workflow.SetCurrentDetails(ctx, b.String())
}
