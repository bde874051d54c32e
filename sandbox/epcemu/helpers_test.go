package epcemu

import (
	"testing"
	"time"

	"github.com/epcflow/epcflow/sandbox/internal/core"
	"github.com/epcflow/epcflow/sandbox/internal/sbtest"
)

// env is an EPC emulator served over real HTTP, with a fake partner receiving its webhooks.
type env struct {
	*sbtest.EPC
	emu *EPC
}

// option adjusts the runtime's options or the emulator's config before New.
type option func(*core.Options, *Config)

func newEnv(t testing.TB, opts ...option) *env {
	t.Helper()
	hooks := sbtest.NewHooks(t)
	clock := sbtest.NewClock()
	cfg := Config{
		PartnerURL: hooks.URL(), ClientID: sbtest.ClientID, ClientSecret: sbtest.ClientSecret,
		SigningKey: sbtest.SigningKey, TokenLifetime: 2 * time.Hour,
	}
	rt := sbtest.Runtime(t, clock, func(o *core.Options) {
		for _, f := range opts {
			f(o, &cfg)
		}
	})
	emu := New(rt, cfg)
	return &env{EPC: sbtest.NewEPC(sbtest.ServeRuntime(t, rt, clock), hooks), emu: emu}
}

func withWebhookTimeout(d time.Duration) option {
	return func(o *core.Options, _ *Config) { o.Webhooks.Timeout = d }
}

func withTokenLifetime(d time.Duration) option {
	return func(_ *core.Options, c *Config) { c.TokenLifetime = d }
}

func withPartnerURL(u string) option { return func(_ *core.Options, c *Config) { c.PartnerURL = u } }

func withRetryInterval(d time.Duration) option {
	return func(o *core.Options, _ *Config) { o.Webhooks.RetryInterval = d }
}

// seed002 is seed 002's transaction, as the epc package checks it in.
const seed002 = "epc/testdata/transaction.json"
