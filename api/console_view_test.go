package api

import (
	"testing"
	"time"
)

// TestPageTimesNeverZero: a time the order does not have is left out of the page, never
// written as 0001-01-01.
func TestPageTimesNeverZero(t *testing.T) {
	if got := formatISO(time.Time{}); got != "" {
		t.Errorf("formatISO(zero) = %q, want empty", got)
	}
	if got := formatWhen(time.Time{}, time.UTC); got != "" {
		t.Errorf("formatWhen(zero) = %q, want empty", got)
	}
	at := time.Date(2026, 7, 1, 14, 0, 0, 0, time.FixedZone("PDT", -7*3600))
	if got := formatISO(at); got != "2026-07-01T21:00:00Z" {
		t.Errorf("formatISO = %q", got)
	}
}
