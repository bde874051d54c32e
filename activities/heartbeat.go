package activities

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"
)

// heartbeatEvery bounds the pause between the heartbeats keepAlive records; the SDK batches
// them and sends at most one per 80% of the heartbeat timeout.
const heartbeatEvery = 5 * time.Second

// keepAlive heartbeats in the background while a long activity runs, until stop is called
// (before the activity returns). A live attempt then never misses its heartbeat timeout
// because a step between heartbeats ran long (retried writes, slow reads, a starved machine),
// so Temporal does not start a second attempt beside it. The other way round, an attempt
// Temporal has already given up on learns it from its heartbeat being refused: the SDK
// cancels its context, which every effect checks first. No-op outside an activity or when
// the activity has no heartbeat timeout.
//
// Not for activities that record heartbeat details (payment): a heartbeat without details
// would replace them.
func keepAlive(ctx context.Context) (stop func()) {
	if !activity.IsActivity(ctx) {
		return func() {}
	}
	timeout := activity.GetInfo(ctx).HeartbeatTimeout
	if timeout <= 0 {
		return func() {}
	}
	return beatEvery(ctx, min(heartbeatEvery, timeout/4), func() { activity.RecordHeartbeat(ctx) })
}

// beatEvery calls beat at once and then every d until stop is called or ctx is done; stop
// returns once beat is no longer called.
func beatEvery(ctx context.Context, d time.Duration, beat func()) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			beat()
			select {
			case <-quit:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}
