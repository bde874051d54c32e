// Package delivery runs ICE Delivery Room packages (POS Framework, seed 000): the Create
// Package Event webhook, the portal's sign-in and open endpoints, and the workflow that tracks
// each package's recipients until they have opened it or it expires.
package delivery

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"go.temporal.io/sdk/workflow"
)

// PackageWorkflowName is the registered name of the package workflow.
const PackageWorkflowName = "POSPackageDelivery"

// Signal and query names of the package workflow.
const (
	SignalRecipientOpened = "recipient-opened"
	QueryStatus           = "status"
)

// DefaultExpiresAfter is how long a package is tracked when its input names no expiry.
const DefaultExpiresAfter = 30 * 24 * time.Hour

// PackageWorkflowID is the one workflow id of a package, from its pos.PackageEvent.Key (already
// path-escaped), so every resend and every open lands on the same execution. A key too long
// for a Temporal workflow id (ids of up to 256 characters each are valid in an event) is
// replaced by its SHA-256; that form cannot clash with a key, which always holds "/".
func PackageWorkflowID(key string) string {
	if id := "pos-package-" + key; len(id) <= maxWorkflowIDBytes {
		return id
	}
	sum := sha256.Sum256([]byte(key))
	return "pos-package-sha256-" + hex.EncodeToString(sum[:])
}

// maxWorkflowIDBytes is the Temporal server's default limit.maxIDLength: a longer workflow id
// is refused, and the package event would be answered 503 on every retry.
const maxWorkflowIDBytes = 1000

// PackageInput starts a package workflow. It carries ids and roles only: names and e-mail
// addresses stay in the portal database, out of workflow history.
type PackageInput struct {
	Key            string             `json:"key"`
	InstanceID     string             `json:"instanceId"`
	GroupNamespace string             `json:"groupNamespace"`
	GroupID        string             `json:"groupId"`
	PackageID      string             `json:"packageId"`
	Recipients     []PackageRecipient `json:"recipients"`
	// ExpiresAfter bounds how long the package is tracked; zero means DefaultExpiresAfter.
	ExpiresAfter time.Duration `json:"expiresAfter,omitempty"`
}

// PackageRecipient is a recipient as the workflow knows it.
type PackageRecipient struct {
	RecipientID string `json:"recipientId"`
	Role        string `json:"role"`
}

// OpenedSignal says a portal user opened the Delivery Room as a recipient.
type OpenedSignal struct {
	RecipientID string `json:"recipientId"`
	UserID      string `json:"userId"`
}

// PackageStatus is what the status query and the workflow's result hold.
type PackageStatus struct {
	Recipients []RecipientStatus `json:"recipients"`
	Expired    bool              `json:"expired"`
}

// RecipientStatus is one recipient's progress. UserID and OpenedAt are set once opened.
type RecipientStatus struct {
	RecipientID string     `json:"recipientId"`
	Role        string     `json:"role,omitempty"`
	UserID      string     `json:"userId,omitempty"`
	Opened      bool       `json:"opened"`
	OpenedAt    *time.Time `json:"openedAt,omitempty"`
}

// AllOpened reports whether every recipient has opened the package.
func (s PackageStatus) AllOpened() bool {
	for _, r := range s.Recipients {
		if !r.Opened {
			return false
		}
	}
	return true
}

// PackageDelivery is the package workflow: it records the first open of each recipient (later
// ones, and opens for ids that are not recipients, change nothing) and ends when all have
// opened or the package expires. Deterministic: no I/O, workflow time only.
func PackageDelivery(ctx workflow.Context, in PackageInput) (PackageStatus, error) {
	log := workflow.GetLogger(ctx)
	st := PackageStatus{Recipients: make([]RecipientStatus, len(in.Recipients))}
	index := make(map[string]int, len(in.Recipients))
	for i, r := range in.Recipients {
		st.Recipients[i] = RecipientStatus{RecipientID: r.RecipientID, Role: r.Role}
		index[r.RecipientID] = i
	}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (PackageStatus, error) { return st, nil }); err != nil {
		return st, err
	}
	expiresAfter := in.ExpiresAfter
	if expiresAfter <= 0 {
		expiresAfter = DefaultExpiresAfter
	}
	timerCtx, cancelTimer := workflow.WithCancel(ctx)
	defer cancelTimer()
	timer := workflow.NewTimer(timerCtx, expiresAfter)
	opened := workflow.GetSignalChannel(ctx, SignalRecipientOpened)

	sel := workflow.NewSelector(ctx)
	sel.AddFuture(timer, func(workflow.Future) { st.Expired = true })
	sel.AddReceive(opened, func(c workflow.ReceiveChannel, _ bool) {
		var sig OpenedSignal
		c.Receive(ctx, &sig)
		i, ok := index[sig.RecipientID]
		switch {
		case !ok:
			log.Warn("open signal for a recipient not in the package", "recipientId", sig.RecipientID)
		case st.Recipients[i].Opened:
			// A second open (same user, or a duplicate signal): the first one counts.
		default:
			at := workflow.Now(ctx).UTC()
			st.Recipients[i].Opened, st.Recipients[i].UserID, st.Recipients[i].OpenedAt = true, sig.UserID, &at
		}
	})
	for !st.Expired && !st.AllOpened() {
		sel.Select(ctx)
	}
	return st, nil
}
