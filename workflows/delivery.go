package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"
)

// The delivery flow tracks an ICE Delivery Room package (POS Framework, seed 000): each
// recipient's first open, until all have opened it or it expires.

// DefaultExpiresAfter is how long a package is tracked when its input names no expiry.
const DefaultExpiresAfter = 30 * 24 * time.Hour

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

// RecipientOpened is the recipient-opened signal: a portal user opened the Delivery Room as a recipient.
type RecipientOpened struct {
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
		var sig RecipientOpened
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
