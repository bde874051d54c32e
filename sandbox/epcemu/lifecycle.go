package epcemu

import (
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/sandbox/internal/core"
)

// The life-cycle as documented (seed 002): a transaction is pending while open; a response
// status of completed, failed or canceled sets it to completed, after which neither side may
// update it. Events may still be exchanged.

// closeBy applies a response status: a closing status completes the transaction. Caller
// holds t.mu.
func (t *txState) closeBy(responseStatus string) {
	if epc.IsClosingStatus(responseStatus) && !t.closed() {
		t.status = epc.TransactionCompleted
		t.closedBy = responseStatus
		t.changed()
	}
}

// responseUpdateError is the 409 for a partner change after the transaction closed. Caller
// holds t.mu.
func (t *txState) responseUpdateError(what string) error {
	if !t.closed() {
		return nil
	}
	return core.Conflict("transaction %s is completed (response status %s): no further %s", t.id, t.closedBy, what)
}

// requestUpdateError is the 409 for a lender change after the transaction closed or once a
// cancellation is pending. Caller holds t.mu.
func (t *txState) requestUpdateError(what string) error {
	switch {
	case t.closed():
		return core.Conflict("transaction %s is completed (response status %s): the request can no longer be %s",
			t.id, t.closedBy, what)
	case t.cancelRequested:
		return core.Conflict("transaction %s has a cancellation pending: the request can no longer be %s", t.id, what)
	}
	return nil
}

// cancelError is the 409 for a lender cancellation of a closed transaction, or a second one.
// Caller holds t.mu.
func (t *txState) cancelError() error {
	switch {
	case t.closed():
		return core.Conflict("transaction %s is completed (response status %s): it can no longer be canceled", t.id, t.closedBy)
	case t.cancelRequested:
		return core.Conflict("transaction %s: cancellation already requested", t.id)
	}
	return nil
}
