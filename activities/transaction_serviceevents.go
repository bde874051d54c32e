package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/schemas"
	"github.com/epcflow/epcflow/vocab"
)

// ServiceEventsInput asks for a CREATE_SERVICE_EVENTS response PATCH.
type ServiceEventsInput struct {
	TransactionID string             `json:"transactionId"`
	Status        string             `json:"status,omitempty"` // empty: leave the response status as it is
	PartnerStatus string             `json:"partnerStatus,omitempty"`
	Events        []epc.ServiceEvent `json:"events"`
	// UnlessCanceled sends nothing when the lender has canceled the request (the outcome is
	// then not applied, with the cancellation in Info), unless the events were sent already.
	UnlessCanceled bool `json:"unlessCanceled,omitempty"`
}

// ServiceOutcome is what the platform reported in its response:processed event.
type ServiceOutcome struct {
	EventID string                      `json:"eventId"`
	Status  string                      `json:"status"`
	Success []epc.ProcessedServiceEvent `json:"success,omitempty"`
	Failure []epc.ProcessedServiceEvent `json:"failure,omitempty"`
	Skipped []epc.ProcessedServiceEvent `json:"skipped,omitempty"`
}

// SendServiceEvents validates the service events against the published schema and PATCHes
// them as a CREATE_SERVICE_EVENTS result, unless the response already carries exactly them.
func (a *Transaction) SendServiceEvents(ctx context.Context, in ServiceEventsInput) (PatchOutcome, error) {
	log := a.logger(ctx, in.TransactionID)
	details, err := json.Marshal(epc.ServiceEventsDetails{ServiceEvents: in.Events})
	if err != nil {
		return PatchOutcome{}, invalid("encode service events: %v", err)
	}
	if err := a.Schemas.Validate(schemas.ServiceEvents, details); err != nil {
		return PatchOutcome{}, invalid("service events do not match %s: %v", schemas.ServiceEvents, err)
	}
	tx, err := a.EPC.GetTransaction(ctx, in.TransactionID)
	if err != nil {
		return PatchOutcome{}, epcError("get transaction", err)
	}
	patch := &epc.Response{
		Status:        in.Status,
		PartnerStatus: in.PartnerStatus,
		Result:        &epc.Result{Action: epc.ActionCreateServiceEvents, Format: epc.FormatServiceEvents, Details: details},
	}
	// A result of exactly these events means an earlier attempt sent them (whatever other
	// PATCHes came since): sending them again would have the platform process them twice.
	if r := tx.Response; r != nil && r.Result != nil && r.Result.Action == epc.ActionCreateServiceEvents && sameJSON(r.Result.Details, details) {
		log.Info("service events already sent")
		return PatchOutcome{Applied: true, Info: a.txInfo(tx)}, nil
	}
	if info := a.txInfo(tx); in.UnlessCanceled && info.CanceledEventID != "" {
		log.Info("service events not sent: the lender canceled the request")
		return PatchOutcome{Info: info}, nil
	}
	tx, err = a.writeResponse(ctx, tx, patch)
	info := a.txInfo(tx)
	switch {
	case errors.Is(err, errClosed):
		return PatchOutcome{Info: info}, nil
	case err != nil:
		return PatchOutcome{}, epcError("patch service events", err)
	}
	if in.Status != "" {
		info.ResponseStatus = in.Status
	}
	log.Info("service events sent", "count", len(in.Events))
	return PatchOutcome{Applied: true, Info: info}, nil
}

// AwaitServiceOutcome polls the transaction's events until the platform's response:processed
// event for CREATE_SERVICE_EVENTS appears, heartbeating while it waits. If the activity times
// out, Temporal retries it; the platform's answer is never lost, only awaited longer.
func (a *Transaction) AwaitServiceOutcome(ctx context.Context, transactionID string) (ServiceOutcome, error) {
	defer keepAlive(ctx)() // a slow read between the loop's heartbeats does not time it out
	out, _, err := a.awaitOutcome(ctx, transactionID, false)
	return out, err
}

// awaitOutcome is AwaitServiceOutcome; with watchCancel it also returns, with the event's id,
// as soon as the events hold the lender's cancellation.
func (a *Transaction) awaitOutcome(ctx context.Context, transactionID string, watchCancel bool) (ServiceOutcome, string, error) {
	wait := a.PollInterval
	if wait <= 0 {
		wait = 250 * time.Millisecond
	}
	canceled := a.Vocabulary.Get(vocab.EventRequestCanceled)
	for {
		events, err := a.EPC.ListEvents(ctx, transactionID)
		if err != nil && !epcRetryable(err) {
			return ServiceOutcome{}, "", epcError("list events", err)
		}
		for _, e := range events {
			if out, ok := processedOutcome(e); ok {
				a.logger(ctx, transactionID).Info("service events processed", "status", out.Status, "success", len(out.Success), "skipped", len(out.Skipped))
				return out, "", nil
			}
			if watchCancel && e.Type == canceled {
				a.logger(ctx, transactionID).Info("the lender canceled the request while its service events were processed", "eventId", e.ID)
				return ServiceOutcome{}, e.ID, nil
			}
		}
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(ctx)
		}
		select {
		case <-ctx.Done():
			return ServiceOutcome{}, "", fmt.Errorf("awaiting response:processed event: %w", ctx.Err())
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}
}

func epcRetryable(err error) bool { return epc.IsRetryable(err) }

func processedOutcome(e epc.Event) (ServiceOutcome, bool) {
	if e.Type != epc.EventResponseProcessed || len(e.Details) == 0 {
		return ServiceOutcome{}, false
	}
	var d epc.ProcessedDetails
	if err := json.Unmarshal(e.Details, &d); err != nil || !equalFoldASCII(d.Action, epc.ActionCreateServiceEvents) {
		return ServiceOutcome{}, false
	}
	out := ServiceOutcome{EventID: e.ID, Status: d.Status}
	for _, g := range d.ServiceEvents {
		out.Success = append(out.Success, g.Success...)
		out.Failure = append(out.Failure, g.Failure...)
		out.Skipped = append(out.Skipped, g.Skipped...)
	}
	return out, true
}

// equalFoldASCII compares "create_service_events" (how the platform reports it) with
// "CREATE_SERVICE_EVENTS" (how the partner sends it).
func equalFoldASCII(a, b string) bool { return bytes.EqualFold([]byte(a), []byte(b)) }

func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}
