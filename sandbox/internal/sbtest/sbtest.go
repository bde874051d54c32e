// Package sbtest holds what the sandbox's tests share: the tests' clock, raw HTTP exchanges
// with their checks, a fake partner endpoint, and a driver for a sandbox under test (EPC's
// lender and partner sides included, the part most tests drive). Tests only.
package sbtest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/epcflow/epcflow/internal/testkit"
	"github.com/epcflow/epcflow/sandbox/internal/core"
)

// NewClock is a settable clock starting at 2026-03-01 12:00 UTC, the sandbox tests' now.
func NewClock() *testkit.Clock {
	return testkit.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
}

// Reply is a raw HTTP exchange's outcome.
type Reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v.
func (r Reply) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Err decodes an error body.
func (r Reply) Err(t testing.TB) core.APIError {
	t.Helper()
	var e core.APIError
	r.JSON(t, &e)
	return e
}

// WantPointers checks that an error lists a problem at each pointer.
func WantPointers(t testing.TB, e core.APIError, pointers ...string) {
	t.Helper()
	got := map[string]bool{}
	for _, p := range e.Details {
		got[p.Pointer] = true
	}
	for _, p := range pointers {
		if !got[p] {
			t.Errorf("no problem at %q in %+v", p, e.Details)
		}
	}
}

// WantRefused checks that a reply has status and an error with a problem at each pointer.
func WantRefused(t testing.TB, r Reply, status int, pointers ...string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	WantPointers(t, r.Err(t), pointers...)
}

// Server is a sandbox under test.
type Server interface {
	Handler() http.Handler
	SetPublicURL(string)
	WaitIdle(ctx context.Context) error
}

// Env is a sandbox served over real HTTP.
type Env struct {
	T     testing.TB
	TS    *httptest.Server
	URL   string
	Clock *testkit.Clock
	srv   Server
}

// Serve serves srv over HTTP until the test ends; stop, if not nil, runs then (after the
// listener closed).
func Serve(t testing.TB, srv Server, clock *testkit.Clock, stop func()) *Env {
	t.Helper()
	ts := httptest.NewServer(srv.Handler())
	srv.SetPublicURL(ts.URL)
	t.Cleanup(func() {
		ts.Close()
		if stop != nil {
			stop()
		}
	})
	return &Env{T: t, TS: ts, URL: ts.URL, Clock: clock, srv: srv}
}

// Runtime is a core.Runtime as the tests run it: the clock, seed 1, fast retries, and the
// fault and behavior routes; opts adjust its options.
func Runtime(t testing.TB, clock *testkit.Clock, opts ...func(*core.Options)) *core.Runtime {
	o := core.Options{
		Clock: clock.Now,
		Seed:  1,
		Webhooks: core.WebhookConfig{
			Workers: 8, Tries: 3, RetryInterval: 10 * time.Millisecond, Timeout: 5 * time.Second,
		},
	}
	for _, f := range opts {
		f(&o)
	}
	rt := core.NewRuntime(o)
	rt.MountControl()
	return rt
}

// ServeRuntime serves rt, closing it when the test ends.
func ServeRuntime(t testing.TB, rt *core.Runtime, clock *testkit.Clock) *Env {
	return Serve(t, rt, clock, rt.Close)
}

// Do sends a raw request; body may be nil, a string, []byte or a value to encode as JSON (sent
// as application/json); header is name, value pairs. A path starting with / is the sandbox's.
func (e *Env) Do(method, path string, body any, header ...string) Reply {
	e.T.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.T.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	url := path
	if strings.HasPrefix(path, "/") {
		url = e.URL + path
	}
	req, err := http.NewRequestWithContext(context.Background(), method, url, rd)
	if err != nil {
		e.T.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.TS.Client().Do(req)
	if err != nil {
		e.T.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return Reply{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// Must sends a raw request (as Do) and fails the test unless the reply has status.
func (e *Env) Must(status int, method, path string, body any, header ...string) Reply {
	e.T.Helper()
	rep := e.Do(method, path, body, header...)
	if rep.Status != status {
		e.T.Fatalf("%s %s: %d %s, want %d", method, path, rep.Status, rep.Body, status)
	}
	return rep
}

// Idle waits for every webhook and background job to settle.
func (e *Env) Idle() {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.WaitIdle(ctx); err != nil {
		e.T.Fatalf("WaitIdle: %v", err)
	}
}
