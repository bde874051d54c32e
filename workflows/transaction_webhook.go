package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/epcflow/epcflow/activities"
	"github.com/epcflow/epcflow/epc"
)

// Webhooks reach the workflow as signals (SignalWebhook). The API drops copies before they
// reach the history; the workflow drops those that slip through (a race between replicas, the
// dedup store down) by the same key.

// maxSeenWebhooks bounds the dedup memory of a long-lived order.
const maxSeenWebhooks = 2000

// maxUnhandled bounds the webhooks not acted on that the status keeps (the latest ones).
const maxUnhandled = 20

// onWebhook reacts to a verified webhook. A webhook is a trigger, never the truth: what it
// means is read back from EPC (refresh, in transaction_cancel.go).
func (s *txState) onWebhook(ctx workflow.Context, sig WebhookSignal) {
	key := sig.DedupKey()
	if s.seen[key] {
		s.log.Debug("duplicate webhook ignored", "eventId", sig.EventID)
		return
	}
	s.remember(key)
	s.st.WebhooksSeen++
	if !epc.Handled(sig.ResourceType, sig.EventType) {
		s.recordUnhandled(ctx, sig)
		if s.v >= 1 {
			return
		}
	}
	switch {
	case sig.ResourceType == epc.ResourceTransaction && sig.EventType == epc.WebhookCreated:
		return // the order itself: the workflow is already working it
	case sig.ResourceType == epc.ResourceTransaction && sig.EventType == epc.WebhookUpdated:
		if s.v == workflow.DefaultVersion {
			s.requestUpdates++ // later, the read tells whether the request changed
		}
	case sig.ResourceType == epc.ResourceTransactionEvent && s.knownEvent[sig.ResourceID]:
		return // already seen in an earlier read of the transaction
	}
	if !s.st.Closed && !s.cancelRequested {
		s.refresh(ctx)
	}
}

// remember adds a webhook's dedup key, forgetting the oldest past maxSeenWebhooks.
func (s *txState) remember(key string) {
	s.seen[key] = true
	s.seenOrder = append(s.seenOrder, key)
	if len(s.seenOrder) > maxSeenWebhooks {
		delete(s.seen, s.seenOrder[0])
		s.seenOrder = s.seenOrder[1:]
	}
}

// recordUnhandled keeps a webhook of a type epcflow does not act on in the status, with the
// transaction event it names as read back from EPC (from changeWebhookPath on). The read runs
// beside the webhooks that follow, which it must not hold up.
func (s *txState) recordUnhandled(ctx workflow.Context, sig WebhookSignal) {
	rec := UnhandledWebhook{
		EventID: clip(sig.EventID), EventType: clip(sig.EventType), ResourceType: clip(sig.ResourceType),
		ResourceID: clip(sig.ResourceID), EventTime: sig.EventTime,
	}
	eventID := sig.RefEventID
	if eventID == "" && sig.ResourceType == epc.ResourceTransactionEvent {
		eventID = sig.ResourceID
	}
	if s.v == workflow.DefaultVersion || eventID == "" || s.st.Closed {
		s.addUnhandled(rec)
		return
	}
	s.busy++
	workflow.Go(ctx, func(gctx workflow.Context) {
		defer func() { s.busy-- }()
		var ev activities.EventInfo
		err := workflow.ExecuteActivity(withActivity(gctx, "read the event of a webhook not acted on", infoCall), ActivityReadEvent,
			activities.EventRef{TransactionID: s.in.TransactionID, EventID: eventID}).Get(gctx, &ev)
		if err != nil {
			s.log.Warn("reading the event of a webhook not acted on failed", "error", err)
		} else {
			rec.Event = &EventRecord{ID: clip(ev.ID), Type: clip(ev.Type), Text: clip(ev.Text), Comments: clip(ev.Comments), At: workflow.Now(gctx)}
		}
		s.addUnhandled(rec)
	})
}

func (s *txState) addUnhandled(rec UnhandledWebhook) {
	s.st.UnhandledWebhooks++
	s.st.Unhandled = append(s.st.Unhandled, rec)
	if n := len(s.st.Unhandled); n > maxUnhandled {
		s.st.Unhandled = append([]UnhandledWebhook(nil), s.st.Unhandled[n-maxUnhandled:]...)
	}
	s.log.Info("webhook of a type not acted on recorded", "eventType", rec.EventType, "resourceType", rec.ResourceType)
}

// clip bounds a value the platform chose, kept in the workflow's state.
func clip(v string) string {
	const max = 256
	if len(v) <= max {
		return v
	}
	cut := max
	for cut > 0 && !isRuneStart(v[cut]) {
		cut--
	}
	return v[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
