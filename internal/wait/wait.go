// Package wait holds the one way epcflow's parts pause between tries: for a duration, or
// until the context ends, whichever comes first.
package wait

import (
	"context"
	"time"
)

// For waits d, or until ctx ends; then it returns ctx.Err(). A d of zero or less returns at
// once (with ctx.Err()).
func For(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
