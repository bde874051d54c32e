package core

import "time"

// Webhook outcomes as the control APIs report them.
const (
	OutcomePending   = "pending"   // a copy is queued, in flight or waiting for a retry
	OutcomeDelivered = "delivered" // a copy got a 2xx
	OutcomeDropped   = "dropped"   // a 4xx: never tried again (the platform's rule)
	OutcomeFailed    = "failed"    // every try failed with a 5xx, a timeout or a network error
	OutcomeAbandoned = "abandoned" // the sandbox was closed before it was sent
	OutcomeWithheld  = "withheld"  // never sent: WebhookBehavior.FirstOnly (as if the platform gave up on it)
)

// Attempt is one try of one copy of a webhook.
type Attempt struct {
	At     time.Time `json:"at"`
	Copy   int       `json:"copy,omitempty"` // 0 for the first copy; see WebhookBehavior.Copies
	Try    int       `json:"try"`
	Status int       `json:"status,omitempty"`
	Error  string    `json:"error,omitempty"`
	// Target is the replica tried (index into Delivery.URLs), with several.
	Target int `json:"target,omitempty"`
}

// Settled is the outcome of each settled copy of a webhook, by copy.
type Settled map[int]string

// Settle records a copy's final outcome and returns the webhook's: delivered as soon as one
// copy got through; otherwise current until all copies are settled, then theirs, dropped
// first (a 4xx is the most telling outcome).
func (s *Settled) Settle(copy int, outcome string, copies int, current string) string {
	if *s == nil {
		*s = Settled{}
	}
	(*s)[copy] = outcome
	if outcome == OutcomeDelivered || current == OutcomeDelivered {
		return OutcomeDelivered
	}
	if len(*s) < copies {
		return current
	}
	for _, o := range *s {
		if o == OutcomeDropped {
			return OutcomeDropped
		}
	}
	return outcome
}

// Unsettled lists the copies, of copies, with no outcome yet.
func (s Settled) Unsettled(copies int) []int {
	var out []int
	for c := range copies {
		if _, ok := s[c]; !ok {
			out = append(out, c)
		}
	}
	return out
}
