package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/epcflow/epcflow/demo"
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/replay"
	"github.com/epcflow/epcflow/sandbox"
	"github.com/epcflow/epcflow/workflows"
)

// The lost-webhook variant (Config.LostWebhooks): the sandbox delivers each order's creation
// webhooks and no other (webhook behavior firstOnly, as when ICE gives up on them after its
// retries). The lender cancels every fourth order while it waits for its appraiser, and
// supplies the missing input of every fourth, placed without the property's address. Nothing
// tells the workers of either but their recheck (--recheck-interval): each such order must
// end right (canceled, or completed) on the first recheck after the lender's change, with
// nothing done twice.

// orderKind is what the lender does with an order.
type orderKind int

const (
	kindPlain  orderKind = iota // worked to completion
	kindCancel                  // canceled by the lender while it waits for its appraiser
	kindInput                   // placed without an address, supplied once asked for
)

// DefaultLostWebhooksRecheck is the workers' recheck interval in the lost-webhook variant.
const DefaultLostWebhooksRecheck = 5 * time.Second

// orderFor is the i-th order to place and what the lender will do with it.
func (r *runner) orderFor(i int, street string) (demo.OrderRequest, orderKind) {
	loan := fmt.Sprintf("CHAOS-%04d", i+1)
	if !r.cfg.LostWebhooks {
		return demo.SampleOrder(orderType(i), loan, street), kindPlain
	}
	switch i % 4 {
	case 0:
		return demo.SampleOrder(workflows.TypeAppraisal, loan, street), kindCancel
	case 1:
		return demo.SampleOrder(workflows.TypeFloodCertification, loan, street), kindPlain
	case 2:
		return demo.SampleOrder(workflows.TypeAppraisal, loan, street), kindPlain
	}
	req := demo.SampleOrder(workflows.TypeFloodCertification, loan, street)
	req.Loan = json.RawMessage(`{"loanNumber":"` + loan + `"}`)
	return req, kindInput
}

// lenderActs plays the lender on an order it changes: once the order waits for what the
// change is about, it cancels the order or supplies the address, and notes when.
func (r *runner) lenderActs(ctx context.Context, o *order) error {
	backoff := 50 * time.Millisecond
	for {
		var ready bool
		switch o.kind {
		case kindCancel:
			st, err := r.operator.Status(ctx, o.id)
			ready = err == nil && st.Stage == workflows.StageAwaitSchedule
		case kindInput:
			raw, err := r.lender.Transaction(ctx, o.id)
			var rec sandbox.TransactionRecord
			ready = err == nil && json.Unmarshal(raw, &rec) == nil && rec.Response.Status == epc.StatusInputRequired
		}
		if ready {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lender on %s: the order never waited for the lender: %w", o.id, ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Second)
	}
	var err error
	if o.kind == kindCancel {
		err = r.lender.Cancel(ctx, o.id, "chaos: the borrower withdrew")
	} else {
		err = r.lender.UpdateRequest(ctx, o.id, json.RawMessage(`{"loan":{"property":{"streetAddress":"4430 Rosewood Dr","city":"Pleasanton","state":"CA","postalCode":"94588"}}}`))
	}
	if err != nil {
		return fmt.Errorf("lender on %s: %w", o.id, err)
	}
	o.changedAt = time.Now()
	return nil
}

// checkRecheck reads from the order's history when it acted on the lender's change: the
// first activity after the change other than the recheck's read (the canceled PATCH, or the
// order's new read), and how many recheck timers fired before it. More than one means the
// first recheck after the change missed it.
func (r *runner) checkRecheck(ctx context.Context, o *order, rep *Report) ([]string, error) {
	if o.changedAt.IsZero() {
		return nil, nil
	}
	rep.LenderChanges++
	h, err := replay.History(ctx, r.client, workflows.TransactionWorkflowID(o.id), "")
	if err != nil {
		return nil, fmt.Errorf("chaos: history of %s: %w", o.id, err)
	}
	timers := 0
	for _, ev := range h.Events {
		at := ev.GetEventTime().AsTime()
		if !at.After(o.changedAt) {
			continue
		}
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_TIMER_FIRED:
			timers++
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			if ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName() == workflows.ActivityInspectTransaction {
				continue
			}
			lag := at.Sub(o.changedAt)
			rep.LatestNotice = max(rep.LatestNotice, lag)
			if timers > 1 {
				return []string{fmt.Sprintf("acted on the lender's change %s after it, on recheck %d after it, not the first", lag.Round(100*time.Millisecond), timers)}, nil
			}
			return nil, nil
		}
	}
	return []string{"never acted on the lender's change"}, nil
}
