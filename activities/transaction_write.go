package activities

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"time"

	"github.com/epcflow/epcflow/epc"
)

// A write to EPC that fails in a way that may pass is tried again within the activity
// attempt, a few times and briefly; past that, Temporal's retry policy takes over.
const (
	writeTries = 3
	// uploadTries is higher: a PUT whose reply is lost may have stored the bytes, and a new
	// attempt would need a new slot, leaving a copy behind. The same bytes PUT again are
	// accepted, so each further try is another chance to learn that they arrived.
	uploadTries      = 8
	writeBackoff     = 200 * time.Millisecond
	maxWriteBackoff  = 2 * time.Second // keeps 8 tries well inside a 30 s heartbeat timeout
	maxWriteWaitHere = 5 * time.Second // a longer Retry-After is left to Temporal
)

// errClosed: the transaction closed before the response could be written.
var errClosed = errors.New("transaction closed")

// writeResponse brings the response of transaction tx to hold every member of patch. It
// PATCHes only when the response does not hold them already: a PATCH whose reply was lost
// may well have been applied, and a second one would be a second update the lender sees.
// Before each new try it reads the transaction again. It returns the transaction as last
// read (before the write, if one was made), and errClosed when the transaction closed
// without holding the patch.
func (a *Transaction) writeResponse(ctx context.Context, tx *epc.Transaction, patch *epc.Response) (*epc.Transaction, error) {
	var err error
	for try := 1; ; try++ {
		if responseHolds(tx.Response, patch) {
			return tx, nil
		}
		if tx.Status == epc.TransactionCompleted {
			return tx, errClosed
		}
		if err = ctx.Err(); err != nil {
			return tx, err // a stale attempt (its heartbeat refused) writes nothing
		}
		if err = a.EPC.PatchResponse(ctx, tx.ID, patch); err == nil {
			return tx, nil
		}
		if try == writeTries || !a.waitToRetry(ctx, err, try) {
			return tx, err
		}
		next, rerr := a.EPC.GetTransaction(ctx, tx.ID)
		if rerr != nil {
			return tx, err // the write's error says more than the read's
		}
		tx = next
	}
}

// retryWrite runs an idempotent write (such as a PUT of the same bytes to the same place)
// up to tries times while it fails in a way that may pass.
func (a *Transaction) retryWrite(ctx context.Context, tries int, write func() error) error {
	for try := 1; ; try++ {
		err := write()
		if err == nil || try == tries || !a.waitToRetry(ctx, err, try) {
			return err
		}
	}
}

// waitToRetry waits before try+1 of a failed write and reports whether to make it: only for
// failures that may pass, and not for a Retry-After longer than an attempt should hold.
func (a *Transaction) waitToRetry(ctx context.Context, err error, try int) bool {
	if !epc.IsRetryable(err) || ctx.Err() != nil {
		return false
	}
	base := a.WriteBackoff
	if base <= 0 {
		base = writeBackoff
	}
	d := max(min(base<<(try-1), maxWriteBackoff), epc.RetryAfter(err))
	if d > maxWriteWaitHere {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// responseHolds reports whether the response already holds every member of patch: objects
// member by member (a null member holds when absent), arrays item by item, values equal.
func responseHolds(r *epc.Response, patch *epc.Response) bool {
	if r == nil {
		r = &epc.Response{}
	}
	have, err1 := generic(r)
	want, err2 := generic(patch)
	return err1 == nil && err2 == nil && holds(have, want)
}

func generic(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func holds(have, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			hv, present := h[k]
			if !present {
				if wv == nil {
					continue
				}
				return false
			}
			if !holds(hv, wv) {
				return false
			}
		}
		return true
	case []any:
		h, ok := have.([]any)
		if !ok || len(h) != len(w) {
			return false
		}
		for i := range w {
			if !holds(h[i], w[i]) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(have, want)
	}
}
