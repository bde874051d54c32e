package sandbox

import (
	"testing"
	"time"

	"github.com/epcflow/epcflow/sandbox/internal/sbtest"
)

// env is a whole sandbox, as New builds it, served over real HTTP and driven as EPC's lender
// and partner, with a fake partner receiving its webhooks.
type env struct {
	*sbtest.EPC
	srv *Server
}

type envOption func(*Config)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	hooks := sbtest.NewHooks(t)
	clock := sbtest.NewClock()
	cfg := Config{
		PartnerURL:           hooks.URL(),
		SigningKey:           sbtest.SigningKey,
		WebhookRetryInterval: 10 * time.Millisecond,
		WebhookTimeout:       5 * time.Second,
		Clock:                clock.Now,
		Seed:                 1,
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e := sbtest.Serve(t, srv, clock, func() { _ = srv.Close() })
	return &env{EPC: sbtest.NewEPC(e, hooks), srv: srv}
}
