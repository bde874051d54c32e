package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/sandbox"
	"github.com/epcflow/epcflow/vocab"
	"github.com/epcflow/epcflow/workflows"
)

// Report is what a run found.
type Report struct {
	// Orders placed; Completed ended completed on both sides (the workflow's result and the
	// sandbox's record), Canceled canceled there as the lender asked; Lost did not end as it
	// should. DuplicatedEffects counts effects beyond the one each order should have had (a
	// second completed PATCH, upload, service event batch…).
	Orders, Completed, Canceled, Lost, DuplicatedEffects int
	// Transactions are the orders' transaction ids, in the order they were placed.
	Transactions []string
	// The lost-webhook variant: webhooks the sandbox withheld, the lender's cancellations and
	// updates, and the longest an order took to act on one (its rechecks RecheckInterval apart).
	WebhooksWithheld, LenderChanges int
	LatestNotice, RecheckInterval   time.Duration
	// Deviations lists every problem, one line per order and kind.
	Deviations []string
	// What was done to the system.
	Kills, KillsMidActivity, Outages, ServerRestarts int
	// PartnerCalls the sandbox answered, and how many of them were injected faults, by answer.
	PartnerCalls int
	Faults       map[string]int
	// Webhooks the platform sent (distinct events), the HTTP tries of all their copies, and the
	// events no copy of which was accepted.
	Webhooks, WebhookTries, WebhooksUndelivered int
	// Packages are the Delivery Room packages sent (each packageSends times); PackagesOpened
	// ended with their recipient in the Delivery Room; DeliveryRoomSessions is how many
	// sessions the POS Framework created for them (an open whose reply was lost, or that
	// failed further on, is tried again and makes another).
	Packages, PackagesOpened, DeliveryRoomSessions int
	// Payments are the Inbank payment sessions asked for and PaymentsCompleted those paid;
	// PaymentKeys counts the Idempotency-Keys used (a new one when Inbank created nothing);
	// UnusedInbankSessions are sessions Inbank created that nobody was sent to (a lost create
	// reply: Inbank offers no way to find them again); they expire.
	Payments, PaymentsCompleted, PaymentKeys, UnusedInbankSessions int
	// OrphanSlots are upload slots created and never used: the reply to the create call was
	// lost, and EPC offers no way to find the slot again. Nothing reaches the lender.
	OrphanSlots int
	// Resent counts the same bytes PUT again to their slot after a lost reply: accepted by the
	// platform, nothing changed.
	Resent   int
	Duration time.Duration
	// Timeline is the run's progress lines.
	Timeline []string
}

// OK reports whether nothing was lost, duplicated or otherwise amiss.
func (r *Report) OK() bool { return len(r.Deviations) == 0 && r.Lost == 0 && r.DuplicatedEffects == 0 }

// Summary is the run's one-line verdict.
func (r *Report) Summary() string {
	if r.Canceled > 0 {
		return fmt.Sprintf("chaos: %d orders, %d completed, %d canceled by the lender, %d lost, %d duplicated effects", r.Orders, r.Completed, r.Canceled, r.Lost, r.DuplicatedEffects)
	}
	return fmt.Sprintf("chaos: %d orders, %d completed, %d lost, %d duplicated effects", r.Orders, r.Completed, r.Lost, r.DuplicatedEffects)
}

// Details is a short account of the faults and what they did, for the log.
func (r *Report) Details() string {
	var b strings.Builder
	injected := 0
	for _, n := range r.Faults {
		injected += n
	}
	fmt.Fprintf(&b, "chaos: %s; worker SIGKILLed %d times (%d with activities in flight), Temporal restarted %d time(s), %d partner outage(s)\n",
		r.Duration.Round(100*time.Millisecond), r.Kills, r.KillsMidActivity, r.ServerRestarts, r.Outages)
	fmt.Fprintf(&b, "chaos: partner calls %d, injected faults %d", r.PartnerCalls, injected)
	for _, k := range slices.Sorted(maps.Keys(r.Faults)) {
		fmt.Fprintf(&b, " [%s: %d]", k, r.Faults[k])
	}
	if r.Packages > 0 {
		fmt.Fprintf(&b, "\nchaos: Delivery Room packages %d (each sent %d times), opened %d, Delivery Room sessions created %d",
			r.Packages, packageSends, r.PackagesOpened, r.DeliveryRoomSessions)
	}
	if r.Payments > 0 {
		fmt.Fprintf(&b, "\nchaos: Inbank payment sessions %d, paid once each %d, Idempotency-Keys used %d, unused Inbank sessions (create reply lost) %d",
			r.Payments, r.PaymentsCompleted, r.PaymentKeys, r.UnusedInbankSessions)
	}
	fmt.Fprintf(&b, "\nchaos: webhooks %d, HTTP tries of their copies %d, events with no copy accepted %d; unused upload slots (create reply lost) %d; uploads re-sent after a lost reply %d",
		r.Webhooks, r.WebhookTries, r.WebhooksUndelivered, r.OrphanSlots, r.Resent)
	if r.LenderChanges > 0 || r.WebhooksWithheld > 0 {
		fmt.Fprintf(&b, "\nchaos: lost webhooks: %d withheld after the orders' first ones; %d lender cancellations and updates, each acted on by the first recheck after it (at most %s later, faults delaying the read; recheck every %s)",
			r.WebhooksWithheld, r.LenderChanges, r.LatestNotice.Round(100*time.Millisecond), r.RecheckInterval)
	}
	return b.String()
}

// serviceEventPatches counts the accepted PATCHes that carried a CREATE_SERVICE_EVENTS result.
func serviceEventPatches(rec *sandbox.TransactionRecord) int {
	n := 0
	for _, raw := range rec.ResponseHistory {
		var p struct {
			Result *struct {
				Action string `json:"action"`
			} `json:"result"`
		}
		if json.Unmarshal(raw, &p) == nil && p.Result != nil && p.Result.Action == epc.ActionCreateServiceEvents {
			n++
		}
	}
	return n
}

// check reads every order's record from the sandbox and its workflow runs from Temporal.
func (r *runner) check(ctx context.Context, orders []*order) (*Report, error) {
	rep := &Report{
		Orders: len(orders), Faults: map[string]int{}, RecheckInterval: r.cfg.RecheckInterval,
		Kills: r.stats.kills, KillsMidActivity: r.stats.killsMidActivity, Outages: r.stats.outages, ServerRestarts: r.stats.restarts,
	}
	if len(orders) < r.cfg.Orders {
		rep.Deviations = append(rep.Deviations, fmt.Sprintf("only %d of %d orders were placed", len(orders), r.cfg.Orders))
	}
	// The platform's own list: an order it holds that we never heard of would be lost too.
	list, err := r.lender.Transactions(ctx)
	if err != nil {
		return nil, fmt.Errorf("chaos: list transactions: %w", err)
	}
	if len(list) != len(orders) {
		rep.Deviations = append(rep.Deviations, fmt.Sprintf("the sandbox holds %d transactions, %d were placed", len(list), len(orders)))
	}
	for _, o := range orders {
		rep.Transactions = append(rep.Transactions, o.id)
		problems, extra, ended, err := r.checkOrder(ctx, o, rep)
		if err != nil {
			return nil, err
		}
		switch {
		case !ended:
			rep.Lost++
		case o.kind == kindCancel:
			rep.Canceled++
		default:
			rep.Completed++
		}
		rep.DuplicatedEffects += extra
		for _, p := range problems {
			rep.Deviations = append(rep.Deviations, fmt.Sprintf("order %d (%s, %s): %s", o.n, o.typ, o.id, p))
		}
	}
	return rep, nil
}

// checkOrder returns the order's problems, its duplicated effects and whether it ended as it
// should: completed, or canceled when the lender canceled it.
func (r *runner) checkOrder(ctx context.Context, o *order, rep *Report) (problems []string, extra int, ended bool, err error) {
	raw, err := r.lender.Transaction(ctx, o.id)
	if err != nil {
		return nil, 0, false, fmt.Errorf("chaos: read transaction %s: %w", o.id, err)
	}
	var rec sandbox.TransactionRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, 0, false, fmt.Errorf("chaos: decode transaction %s: %w", o.id, err)
	}
	rep.PartnerCalls += len(rec.PartnerCalls) + rec.PartnerCallsDropped
	for _, c := range rec.PartnerCalls {
		if c.Fault != "" {
			rep.Faults[c.Fault]++
		}
	}
	for _, w := range rec.Webhooks {
		rep.Webhooks++
		rep.WebhookTries += len(w.Attempts)
		switch w.Outcome {
		case "delivered":
		case "withheld":
			rep.WebhooksWithheld++
		default:
			rep.WebhooksUndelivered++
		}
	}

	want := epc.StatusCompleted
	if o.kind == kindCancel {
		want = epc.StatusCanceled
	}
	switch {
	case o.err != nil:
		problems = append(problems, fmt.Sprintf("workflow never ended: %v", o.err))
	case o.result.ResponseStatus != want:
		problems = append(problems, fmt.Sprintf("workflow ended with response status %q, want %q", o.result.ResponseStatus, want))
	}
	if rec.Status != epc.TransactionCompleted || rec.Response.Status != want {
		problems = append(problems, fmt.Sprintf("sandbox shows transaction %q, response %q", rec.Status, rec.Response.Status))
	}
	ended = len(problems) == 0
	if o.appraise != nil {
		problems = append(problems, "appraiser: "+o.appraise.Error())
	}
	if o.lender != nil {
		problems = append(problems, o.lender.Error())
	}
	late, err := r.checkRecheck(ctx, o, rep)
	if err != nil {
		return nil, 0, false, err
	}
	problems = append(problems, late...)

	// Each effect as often as the order should have had it: more is a duplicate, less a
	// deviation of its own.
	times := func(what string, n, wantN int) {
		switch {
		case n > wantN:
			extra += n - wantN
			problems = append(problems, fmt.Sprintf("%s %d times", what, n))
		case n < wantN && ended:
			problems = append(problems, fmt.Sprintf("%s %d times, want %d", what, n, wantN))
		}
	}
	completes := 1
	if o.kind == kindCancel {
		completes = 0
		times("PATCH status canceled", rec.Patches(epc.StatusCanceled), 1)
	}
	processing := 1
	if o.kind == kindInput {
		processing = 2 // acknowledged, and again once the lender's input came
		times("PATCH status inputRequired", rec.Patches(epc.StatusInputRequired), 1)
	}
	once := func(what string, n int) { times(what, n, completes) }
	times("PATCH status processing", rec.Patches(epc.StatusProcessing), processing)
	once("PATCH status completed", rec.Patches(epc.StatusCompleted))
	once("CREATE_SERVICE_EVENTS PATCH", serviceEventPatches(&rec))
	once("service events processed (response:processed)", len(rec.EventsOfType(epc.EventResponseProcessed)))
	attached := 0
	for _, res := range rec.Resources {
		switch {
		case res.Attached:
			attached++
			rep.Resent += res.Resent
			if !res.Uploaded {
				problems = append(problems, "attached resource "+res.Name+" holds no bytes")
			}
			// The slot takes one file; the same bytes sent again after a lost reply change
			// nothing and are counted apart. Any other PUT would be a second upload.
			if n := res.Uploads - res.Resent; n > 1 {
				extra += n - 1
				problems = append(problems, fmt.Sprintf("attached resource %s: %d different uploads", res.Name, n))
			}
		case res.Uploaded:
			extra++
			problems = append(problems, fmt.Sprintf("a second copy of %s was uploaded and never attached", res.Name))
		default:
			// A slot asked for whose reply was lost: EPC lists no unattached slots, so nobody
			// can find it again. The lender never sees it; counted apart.
			rep.OrphanSlots++
		}
	}
	once("resource attached", attached)
	if o.typ == workflows.TypeAppraisal {
		once("appraisal:scheduled event", len(rec.EventsOfType(vocab.Default().Get(vocab.EventAppraisalScheduled))))
	}
	runs, err := r.countRuns(ctx, workflows.TransactionWorkflowID(o.id))
	if err != nil {
		return nil, 0, false, err
	}
	times("workflow run", runs, 1)
	return problems, extra, ended, nil
}
