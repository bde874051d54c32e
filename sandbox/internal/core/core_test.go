package core

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestSettle: a webhook is delivered once any copy is; otherwise it waits for every copy and
// then takes their outcome, dropped first.
func TestSettle(t *testing.T) {
	for _, tc := range []struct {
		name     string
		copies   int
		outcomes []string // per copy, in settling order
		want     []string // the webhook's outcome after each
	}{
		{"one copy delivered", 1, []string{OutcomeDelivered}, []string{OutcomeDelivered}},
		{"one copy failed", 1, []string{OutcomeFailed}, []string{OutcomeFailed}},
		{"delivered at once", 2, []string{OutcomeDelivered, OutcomeFailed}, []string{OutcomeDelivered, OutcomeDelivered}},
		{"pending until all settle", 3, []string{OutcomeFailed, OutcomeFailed, OutcomeFailed},
			[]string{OutcomePending, OutcomePending, OutcomeFailed}},
		{"a 4xx is the most telling", 2, []string{OutcomeDropped, OutcomeFailed}, []string{OutcomePending, OutcomeDropped}},
		{"a late delivery wins", 2, []string{OutcomeFailed, OutcomeDelivered}, []string{OutcomePending, OutcomeDelivered}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s Settled
			outcome := OutcomePending
			for c, o := range tc.outcomes {
				if got := s.Unsettled(tc.copies); len(got) != tc.copies-c {
					t.Errorf("before copy %d settles: unsettled %v", c, got)
				}
				outcome = s.Settle(c, o, tc.copies, outcome)
				if outcome != tc.want[c] {
					t.Errorf("after copy %d (%s): %s, want %s", c, o, outcome, tc.want[c])
				}
			}
		})
	}
}

func TestCallLogBounded(t *testing.T) {
	var l CallLog
	for i := range MaxCalls + 1 {
		l.Add(Call{Status: i})
	}
	if l.Dropped != MaxCalls/2 || len(l.Calls) != MaxCalls/2+1 || l.Calls[0].Status != MaxCalls/2 || l.Calls[len(l.Calls)-1].Status != MaxCalls {
		t.Errorf("after %d calls: %d kept (first %d), %d dropped", MaxCalls+1, len(l.Calls), l.Calls[0].Status, l.Dropped)
	}
}

func TestPointer(t *testing.T) {
	if got := Pointer("/rules", 2, "a/b", "c~d"); got != "/rules/2/a~1b/c~0d" {
		t.Errorf("Pointer = %q", got)
	}
}

// TestDecodeHelpers: every problem is reported at its pointer, and the objects of an array
// reach the callback with theirs.
func TestDecodeHelpers(t *testing.T) {
	var ps Problems
	items, _ := DecodeArray([]byte(`[{"name":"a"},7,{"name":" ","x":1}]`), "/files", "an array of files", &ps)
	var seen []string
	EachObject(items, "/files", &ps, func(ptr string, obj map[string]json.RawMessage) {
		seen = append(seen, ptr)
		UnknownKeys(obj, ptr, &ps, "name")
		NonEmptyString(obj, "name", ptr, &ps)
	})
	DecodeArray([]byte(`{}`), "/other", "an array of files", &ps)
	if !slices.Equal(seen, []string{"/files/0", "/files/2"}) {
		t.Errorf("objects seen at %v", seen)
	}
	want := Problems{
		{Pointer: "/files/1", Message: "must be an object, got number"},
		{Pointer: "/files/2/x", Message: "unknown property (allowed: name)"},
		{Pointer: "/files/2/name", Message: "must not be blank"},
		{Pointer: "/other", Message: "must be an array of files, got object"},
	}
	if !slices.Equal(ps, want) {
		t.Errorf("problems\n%v\nwant\n%v", ps, want)
	}
}
