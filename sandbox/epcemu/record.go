package epcemu

import (
	"encoding/json"

	"github.com/epcflow/epcflow/epc"
)

// Record is GET /sandbox/epc/transactions/{id} as a reader decodes it: the control view with
// the partner's response decoded. The chaos run's checks and the integration tests read it,
// so that what they check is the shape the sandbox writes.
type Record struct {
	ControlView
	// Response shadows the view's raw response.
	Response epc.Response `json:"response"`
}

// PatchStatuses lists the status of every accepted response PATCH ("" for those without).
func (rec Record) PatchStatuses() []string {
	out := make([]string, 0, len(rec.ResponseHistory))
	for _, raw := range rec.ResponseHistory {
		var p struct {
			Status string `json:"status"`
		}
		_ = json.Unmarshal(raw, &p)
		out = append(out, p.Status)
	}
	return out
}

// Patches counts the accepted response PATCHes that set status to s.
func (rec Record) Patches(s string) int {
	n := 0
	for _, st := range rec.PatchStatuses() {
		if st == s {
			n++
		}
	}
	return n
}

// EventsOfType lists the transaction's events of type typ.
func (rec Record) EventsOfType(typ string) []epc.Event {
	var out []epc.Event
	for _, e := range rec.Events {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}
