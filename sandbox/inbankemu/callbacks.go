package inbankemu

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/sandbox/internal/core"
)

// outcomeHeld: a reordered callback waiting for a later one to overtake it.
const outcomeHeld = "held"

// Callbacks is the "callbacks" option of a control action.
type Callbacks struct {
	Copies  int  `json:"copies,omitempty"`
	Reorder bool `json:"reorder,omitempty"`
	Skip    bool `json:"skip,omitempty"`
}

// callbackRecord is one callback (one of an action's copies) and its delivery.
type callbackRecord struct {
	Status    pos.InbankStatus `json:"status"`
	Timestamp int64            `json:"timestamp"`
	Copy      int              `json:"copy"` // 1-based among the copies one transition sent
	Queued    time.Time        `json:"queued"`
	Reordered bool             `json:"reordered,omitempty"`
	Attempts  []core.Attempt   `json:"attempts"`
	Outcome   string           `json:"outcome"`

	sends   int // deliverer copies queued (the webhook behavior may add some)
	settled core.Settled
}

// hold is a session's reordered callbacks, waiting for later ones to overtake them.
type hold struct {
	items    []held
	detached chan struct{} // closed when a later transition's callbacks take charge of release
	released bool
	// remaining counts the overtaking callbacks' deliverer copies not yet settled.
	remaining int
}

type held struct {
	rec *callbackRecord
	dl  *core.Delivery
}

// detach takes sess's held callbacks out of its charge (nil if none): a later transition's
// callbacks, or the timer, decide when they go.
func (sess *session) detach() *hold {
	h := sess.hold
	if h != nil {
		sess.hold = nil
		close(h.detached)
	}
	return h
}

// sendCallbacks sends the callbacks of sess's current status as cb says. Caller holds ib.mu.
func (ib *Inbank) sendCallbacks(sess *session, cb Callbacks) {
	url := sess.callbackURL()
	if url == "" {
		return
	}
	if cb.Skip {
		if h := sess.detach(); h != nil {
			ib.release(sess, h)
		}
		return
	}
	items := ib.callbacks(sess, url, cb)
	if cb.Reorder {
		ib.holdBack(sess, items)
		return
	}
	// These overtake whatever is held: the held ones go once these are settled.
	h := sess.detach()
	total := 0
	for _, it := range items {
		total += ib.deliver(sess, it, h)
	}
	if h != nil {
		h.remaining = total
		if total == 0 {
			ib.release(sess, h)
		}
	}
}

// callbacks makes (and records) the copies of sess's callback for its current status.
// Caller holds ib.mu.
func (ib *Inbank) callbacks(sess *session, url string, cb Callbacks) []held {
	now := ib.now()
	body := pos.NewCallbackBody(sess.uuid, sess.status, now)
	header := http.Header{
		"Content-Type":            {"application/json"},
		pos.HeaderInbankSignature: {pos.SignCallback(sess.apiKey, body, strconv.FormatInt(now.Unix(), 10))},
	}
	items := make([]held, max(cb.Copies, 1))
	for i := range items {
		rec := &callbackRecord{Status: sess.status, Timestamp: now.Unix(), Copy: i + 1, Queued: now,
			Reordered: cb.Reorder, Attempts: []core.Attempt{}, Outcome: core.OutcomePending}
		sess.callbacks = append(sess.callbacks, rec)
		items[i] = held{rec: rec, dl: &core.Delivery{
			URL:    url,
			Header: header,
			Body:   body,
			What:   "inbank callback " + string(sess.status) + " " + sess.uuid,
		}}
	}
	return items
}

// deliver queues one callback; once settled, each of its copies counts down h (if any).
// Caller holds ib.mu.
func (ib *Inbank) deliver(sess *session, it held, h *hold) int {
	rec := it.rec
	it.dl.OnAttempt = func(a core.Attempt) {
		ib.mu.Lock()
		rec.Attempts = append(rec.Attempts, a)
		ib.mu.Unlock()
	}
	it.dl.OnSettled = func(copy int, outcome string) {
		ib.mu.Lock()
		defer ib.mu.Unlock()
		rec.Outcome = rec.settled.Settle(copy, outcome, rec.sends, rec.Outcome)
		if h != nil {
			h.remaining--
			if h.remaining == 0 {
				ib.release(sess, h)
			}
		}
	}
	rec.Outcome = core.OutcomePending
	rec.sends = ib.rt.Hooks().Send(it.dl)
	if rec.sends == 0 {
		rec.Outcome = core.OutcomeAbandoned
	}
	return rec.sends
}

// holdBack keeps items until a later transition's callbacks overtake them, or until
// ib.reorderHold passes with none. Caller holds ib.mu.
func (ib *Inbank) holdBack(sess *session, items []held) {
	for _, it := range items {
		it.rec.Outcome = outcomeHeld
	}
	if h := sess.hold; h != nil {
		h.items = append(h.items, items...)
		return
	}
	h := &hold{items: items, detached: make(chan struct{})}
	sess.hold = h
	wait := ib.reorderHold
	started := ib.rt.Go(func(ctx context.Context) {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-h.detached:
		case <-ctx.Done():
			ib.mu.Lock()
			ib.abandon(h)
			ib.mu.Unlock()
		case <-t.C:
			ib.mu.Lock()
			if sess.hold == h {
				sess.detach()
			}
			ib.release(sess, h)
			ib.mu.Unlock()
		}
	})
	if !started {
		sess.detach()
		ib.release(sess, h)
	}
}

// release sends held callbacks, once. Caller holds ib.mu.
func (ib *Inbank) release(sess *session, h *hold) {
	if h.released {
		return
	}
	h.released = true
	for _, it := range h.items {
		ib.deliver(sess, it, nil)
	}
}

// abandon marks held callbacks as never sent (the sandbox closed). Caller holds ib.mu.
func (ib *Inbank) abandon(h *hold) {
	if h.released {
		return
	}
	h.released = true
	for _, it := range h.items {
		it.rec.Outcome = core.OutcomeAbandoned
	}
}
