package activities

import (
	"context"

	"github.com/epcflow/epcflow/blobs"
	"github.com/epcflow/epcflow/epc"
)

// The transaction flow's steps as the lean workflow runs them (issue 12): a few activities
// each doing what several did, each part idempotent as alone, so that a retried attempt
// redoes only what did not happen. Each reads the transaction before it writes and tells the
// workflow of the lender's cancellation: an order at work learns of it from its own reads,
// not from the platform's webhooks.

// IntakeOutcome is what AcknowledgeAndGather did and found.
type IntakeOutcome struct {
	Ack PatchOutcome `json:"ack"`
	// Order is empty when the acknowledgement was not applied (the transaction is closed) or
	// the lender has canceled the request: the order ends there.
	Order *OrderData `json:"order,omitempty"`
}

// AcknowledgeAndGather acknowledges the order (PatchResponse with in) and gathers its data
// (GatherData).
func (a *Transaction) AcknowledgeAndGather(ctx context.Context, in PatchInput) (IntakeOutcome, error) {
	in.Acknowledgement = true
	ack, err := a.PatchResponse(ctx, in)
	if err != nil {
		return IntakeOutcome{}, err
	}
	out := IntakeOutcome{Ack: ack}
	if !ack.Applied || ack.Info.CanceledEventID != "" {
		return out, nil
	}
	o, err := a.GatherData(ctx, in.TransactionID)
	if err != nil {
		return IntakeOutcome{}, err
	}
	out.Order = &o
	return out, nil
}

// ServiceEventsResult is what SendAndAwaitServiceEvents did and found.
type ServiceEventsResult struct {
	// Sent: the PATCH, or why it was not made; Sent.Info.CanceledEventID is also set when
	// the lender canceled while the platform processed the events.
	Sent PatchOutcome `json:"sent"`
	// Outcome is the platform's response:processed (nil when the order ended first).
	Outcome *ServiceOutcome `json:"outcome,omitempty"`
}

// SendAndAwaitServiceEvents sends the service events (SendServiceEvents) and waits for the
// platform's outcome (AwaitServiceOutcome), heartbeating; with in.UnlessCanceled it stops
// at the lender's cancellation, before sending or while waiting.
func (a *Transaction) SendAndAwaitServiceEvents(ctx context.Context, in ServiceEventsInput) (ServiceEventsResult, error) {
	defer keepAlive(ctx)()
	sent, err := a.SendServiceEvents(ctx, in)
	if err != nil {
		return ServiceEventsResult{}, err
	}
	res := ServiceEventsResult{Sent: sent}
	if !sent.Applied || (in.UnlessCanceled && sent.Info.CanceledEventID != "") {
		return res, nil
	}
	out, canceled, err := a.awaitOutcome(ctx, in.TransactionID, in.UnlessCanceled)
	switch {
	case err != nil:
		return ServiceEventsResult{}, err
	case canceled != "":
		res.Sent.Info.CanceledEventID = canceled
	default:
		res.Outcome = &out
	}
	return res, nil
}

// CompleteInput asks for the files to be uploaded and the response completed with them.
type CompleteInput struct {
	TransactionID string       `json:"transactionId"`
	Files         []blobs.File `json:"files,omitempty"`
	// Patch completes the response; the uploaded files are added as its resources.
	Patch               epc.Response `json:"patch"`
	WithRespondingParty bool         `json:"withRespondingParty,omitempty"`
	// UnlessCanceled: see PatchInput; no file is uploaded either.
	UnlessCanceled bool `json:"unlessCanceled,omitempty"`
}

// CompleteOutcome is what UploadAndComplete did.
type CompleteOutcome struct {
	Resources []epc.Resource `json:"resources,omitempty"`
	Complete  PatchOutcome   `json:"complete"`
}

// UploadAndComplete uploads the files one after the other (UploadFile) and completes the
// response listing them (PatchResponse).
func (a *Transaction) UploadAndComplete(ctx context.Context, in CompleteInput) (CompleteOutcome, error) {
	defer keepAlive(ctx)()
	var out CompleteOutcome
	for _, f := range in.Files {
		r, canceled, err := a.upload(ctx, UploadInput{TransactionID: in.TransactionID, File: f}, in.UnlessCanceled)
		if err != nil {
			return CompleteOutcome{}, err
		}
		if canceled != "" {
			out.Complete.Info = TxInfo{TransactionID: in.TransactionID, CanceledEventID: canceled}
			return out, nil
		}
		out.Resources = append(out.Resources, r)
	}
	patch := in.Patch
	patch.Resources = out.Resources
	done, err := a.PatchResponse(ctx, PatchInput{
		TransactionID: in.TransactionID, Patch: patch, WithRespondingParty: in.WithRespondingParty, UnlessCanceled: in.UnlessCanceled,
	})
	if err != nil {
		return CompleteOutcome{}, err
	}
	out.Complete = done
	return out, nil
}
