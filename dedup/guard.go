package dedup

import (
	"context"
	"fmt"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"
)

// Backend is the shared record Guard consults (*Store).
type Backend interface {
	Seen(ctx context.Context, key string) (bool, error)
	Mark(ctx context.Context, key string) error
	MaxAge() time.Duration
}

// GuardOptions tune a Guard.
type GuardOptions struct {
	// Recent is how many keys this process remembers itself (default 10,000): a flood of
	// copies of one webhook is answered from memory, also while the backend is down.
	Recent int
	// StoreTimeout bounds each backend call (default 1 s), so a slow or unreachable store
	// delays a webhook little and never refuses it.
	StoreTimeout time.Duration
	// OnStoreError is told about every failed backend call (op "seen" or "mark"); the
	// webhook is delivered all the same. Nil: ignored.
	OnStoreError func(op string, err error)
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Guard delivers each key once as far as it can tell: a key is a duplicate once a delivery of
// it succeeded (here or in any process sharing the backend) within the backend's MaxAge. A
// failed delivery marks nothing, so the sender's retry is delivered. Copies of one key
// arriving together in this process wait for the first one's delivery; two processes may
// both deliver a key at the same moment, and the receiver must drop that rare duplicate.
type Guard struct {
	backend Backend
	opts    GuardOptions
	recent  *lru.Cache[string, time.Time]
	flight  singleflight.Group
}

// NewGuard returns a Guard over backend.
func NewGuard(backend Backend, opts GuardOptions) *Guard {
	if opts.Recent <= 0 {
		opts.Recent = 10_000
	}
	if opts.StoreTimeout <= 0 {
		opts.StoreTimeout = time.Second
	}
	if opts.OnStoreError == nil {
		opts.OnStoreError = func(string, error) {}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	recent, err := lru.New[string, time.Time](opts.Recent)
	if err != nil {
		panic(err) // only for a size <= 0, excluded above
	}
	return &Guard{backend: backend, opts: opts, recent: recent}
}

// Deliver calls deliver unless key is a duplicate, and reports which. err is deliver's error
// (or ctx's while waiting for a copy in flight); then nothing was marked.
func (g *Guard) Deliver(ctx context.Context, key string, deliver func(ctx context.Context) error) (duplicate bool, err error) {
	if g.recentlyDelivered(key) {
		return true, nil
	}
	leader := false
	ch := g.flight.DoChan(key, func() (any, error) {
		leader = true
		return g.deliverOnce(ctx, key, deliver)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return false, r.Err
		}
		// A copy that waited for another one's delivery is a duplicate of it.
		return r.Val.(bool) || !leader, nil
	case <-ctx.Done():
		return false, fmt.Errorf("dedup: waiting for a copy in flight: %w", ctx.Err())
	}
}

// deliverOnce is the delivery of the one copy of key in flight in this process.
func (g *Guard) deliverOnce(ctx context.Context, key string, deliver func(ctx context.Context) error) (duplicate bool, err error) {
	sctx, cancel := context.WithTimeout(ctx, g.opts.StoreTimeout)
	seen, err := g.backend.Seen(sctx, key)
	cancel()
	switch {
	case err != nil:
		g.opts.OnStoreError("seen", err)
	case seen:
		g.remember(key)
		return true, nil
	}
	if err := deliver(ctx); err != nil {
		return false, err
	}
	g.remember(key)
	// Delivered: record it even if the sender has gone meanwhile.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.opts.StoreTimeout)
	defer cancel()
	if err := g.backend.Mark(mctx, key); err != nil {
		g.opts.OnStoreError("mark", err)
	}
	return false, nil
}

func (g *Guard) remember(key string) { g.recent.Add(key, g.opts.Now()) }

func (g *Guard) recentlyDelivered(key string) bool {
	at, ok := g.recent.Get(key)
	return ok && g.opts.Now().Sub(at) < g.backend.MaxAge()
}
