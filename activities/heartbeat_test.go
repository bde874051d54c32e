package activities

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestBeatEveryUntilStopped: the background heartbeat goes on while the activity runs, and
// none is recorded once the activity has returned.
func TestBeatEveryUntilStopped(t *testing.T) {
	var beats atomic.Int32
	third := make(chan struct{})
	stop := beatEvery(t.Context(), time.Millisecond, func() {
		if beats.Add(1) == 3 {
			close(third)
		}
	})
	<-third // the activity still runs: it keeps being reported alive
	stop()  // returns once the heartbeating goroutine has ended: none after the activity returns
	require.GreaterOrEqual(t, beats.Load(), int32(3))
}

// TestKeepAliveOutsideAnActivity: a plain call (tests, a local use) heartbeats nothing.
func TestKeepAliveOutsideAnActivity(t *testing.T) {
	stop := keepAlive(context.Background())
	stop()
}
