// Package localrun holds what the runs that start epcflow's parts on this machine (bench,
// chaos, drill) share: undoing their setup in reverse, and picking free ports.
package localrun

import (
	"context"
	"net"
)

// Cleanups undoes a run's setup: what was set up last is undone first. The zero value is
// ready. Not safe for concurrent use: the run adds and runs them from one goroutine.
type Cleanups struct{ fs []func() }

// Add adds f, to run before every clean-up added earlier.
func (c *Cleanups) Add(f func()) { c.fs = append(c.fs, f) }

// Run runs the clean-ups, last added first, and forgets them: a second Run does nothing.
func (c *Cleanups) Run() {
	for i := len(c.fs) - 1; i >= 0; i-- {
		c.fs[i]()
	}
	c.fs = nil
}

// Do sets a run up with start and carries it out with run. Whatever start set up (all of
// it, or what it got to before it failed) is undone through c once the run is over.
func Do[T any](ctx context.Context, c *Cleanups, start func(context.Context) error, run func(context.Context) (T, error)) (T, error) {
	defer c.Run()
	if err := start(ctx); err != nil {
		var zero T
		return zero, err
	}
	return run(ctx)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago, for a part started
// as another process (which must bind it itself).
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
