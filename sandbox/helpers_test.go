package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/epcflow/epcflow/epc"
)

const testSigningKey = "test-signing-key"

// fakeClock is a settable clock for token expiry and outage windows.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// hook is one webhook the fake partner received.
type hook struct {
	header http.Header
	body   []byte
	msg    epc.Webhook
}

// receiver is a fake partner: it records every webhook and answers what reply says.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	got    chan hook
	mu     sync.Mutex
	n      int
	answer func(n int, h hook) int // status for the n-th webhook (1-based); nil: 200
}

// hang, as an answer, holds the request open until the sender gives up.
const hang = -1

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{t: t, got: make(chan hook, 1000)}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/webhooks/epc" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		h := hook{header: r.Header.Clone(), body: body}
		_ = json.Unmarshal(body, &h.msg)
		rc.mu.Lock()
		rc.n++
		n, answer := rc.n, rc.answer
		rc.mu.Unlock()
		status := http.StatusOK
		if answer != nil {
			status = answer(n, h)
		}
		if status == hang {
			// Block until the sender gives up (its timeout): no sleeping on either side.
			<-r.Context().Done()
			return
		}
		rc.got <- h // before answering: once the sandbox is idle, every webhook is here
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) setAnswer(f func(n int, h hook) int) {
	rc.mu.Lock()
	rc.answer = f
	rc.mu.Unlock()
}

// drain returns the webhooks received and not yet read (call after env.idle).
func (rc *receiver) drain() []hook {
	var out []hook
	for {
		select {
		case h := <-rc.got:
			out = append(out, h)
		default:
			return out
		}
	}
}

// next waits for the next webhook matching keep, discarding the others.
func (rc *receiver) next(keep func(hook) bool) hook {
	rc.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case h := <-rc.got:
			if keep == nil || keep(h) {
				return h
			}
		case <-timeout:
			rc.t.Fatal("timed out waiting for a webhook")
		}
	}
}

// env is a sandbox served over real HTTP with a fake partner behind it.
type env struct {
	t      *testing.T
	srv    *Server
	ts     *httptest.Server
	hooks  *receiver
	client *epc.Client
	clock  *fakeClock
}

type envOption func(*Config)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	rc := newReceiver(t)
	clock := newFakeClock()
	cfg := Config{
		PartnerURL:           rc.srv.URL,
		SigningKey:           testSigningKey,
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
	ts := httptest.NewServer(srv.Handler())
	srv.SetPublicURL(ts.URL)
	t.Cleanup(func() {
		ts.Close()
		_ = srv.Close()
	})
	client, err := epc.NewClient(epc.Config{BaseURL: ts.URL, ClientID: DefaultClientID, ClientSecret: DefaultClientSecret})
	if err != nil {
		t.Fatalf("epc.NewClient: %v", err)
	}
	return &env{t: t, srv: srv, ts: ts, hooks: rc, client: client, clock: clock}
}

// reply is a raw HTTP exchange's outcome.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// apiErr decodes an error body.
func (r reply) apiErr(t *testing.T) apiError {
	t.Helper()
	var e apiError
	r.json(t, &e)
	return e
}

// do sends a raw request; body may be nil, a string, []byte or a value to encode as JSON.
func (e *env) do(method, path string, body any, header ...string) reply {
	e.t.Helper()
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
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	url := path
	if strings.HasPrefix(path, "/") {
		url = e.ts.URL + path
	}
	req, err := http.NewRequestWithContext(context.Background(), method, url, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// token fetches an access token by raw HTTP.
func (e *env) token() string {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/oauth2/v1/token",
		strings.NewReader("grant_type=client_credentials&scope=pc+pcapi"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(DefaultClientID, DefaultClientSecret)
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok epc.Token
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != 200 {
		e.t.Fatalf("token: status %d, %v", resp.StatusCode, err)
	}
	return tok.AccessToken
}

// partner sends a raw Partner API request with a fresh bearer token.
func (e *env) partner(method, path string, body any) reply {
	e.t.Helper()
	return e.do(method, path, body, "Authorization", "Bearer "+e.token())
}

// order places a transaction through the control API and returns its id.
func (e *env) order(body any) string {
	e.t.Helper()
	if body == nil {
		body = map[string]any{"request": map[string]any{"type": "Appraisal"}}
	}
	rep := e.do(http.MethodPost, "/sandbox/epc/transactions", body)
	if rep.status != http.StatusCreated {
		e.t.Fatalf("create transaction: %d %s", rep.status, rep.body)
	}
	var tx struct{ ID string }
	rep.json(e.t, &tx)
	return tx.ID
}

// control reads the control view of a transaction.
func (e *env) control(id string) controlSnapshot {
	e.t.Helper()
	rep := e.do(http.MethodGet, "/sandbox/epc/transactions/"+id, nil)
	if rep.status != http.StatusOK {
		e.t.Fatalf("control view: %d %s", rep.status, rep.body)
	}
	var v controlSnapshot
	rep.json(e.t, &v)
	return v
}

// idle waits for every webhook and background job to settle.
func (e *env) idle() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.WaitIdle(ctx); err != nil {
		e.t.Fatalf("WaitIdle: %v", err)
	}
}

// controlSnapshot decodes the control view as a tool would.
type controlSnapshot struct {
	ID              string            `json:"id"`
	Status          string            `json:"status"`
	Response        json.RawMessage   `json:"response"`
	Events          []epc.Event       `json:"events"`
	CancelRequested bool              `json:"cancelRequested"`
	ResponseHistory []json.RawMessage `json:"responseHistory"`
	Resources       []struct {
		ID       string `json:"id"`
		Name     string `json:"name"`
		MimeType string `json:"mimeType"`
		Size     int    `json:"size"`
		SHA256   string `json:"sha256"`
		Uploaded bool   `json:"uploaded"`
		Uploads  int    `json:"uploads"`
		Resent   int    `json:"resent"`
		Attached bool   `json:"attached"`
	} `json:"resources"`
	Webhooks []struct {
		EventID      string `json:"eventId"`
		EventType    string `json:"eventType"`
		ResourceType string `json:"resourceType"`
		ResourceID   string `json:"resourceId"`
		Copies       int    `json:"copies"`
		Attempts     []struct {
			Status int    `json:"status"`
			Error  string `json:"error"`
			Try    int    `json:"try"`
		} `json:"attempts"`
		Outcome string `json:"outcome"`
	} `json:"webhooks"`
	PartnerCalls []partnerCall `json:"partnerCalls"`
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func eventTypes(evs []epc.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Type
	}
	return out
}

// waitEvent polls the transaction's events (through the client) until one of type typ shows
// up, with a deadline.
func (e *env) waitEvent(id, typ string) epc.Event {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		evs, err := e.client.ListEvents(context.Background(), id)
		if err != nil {
			e.t.Fatalf("ListEvents: %v", err)
		}
		for _, ev := range evs {
			if ev.Type == typ {
				return ev
			}
		}
		// Settle background work rather than sleeping.
		e.idle()
	}
	e.t.Fatalf("no %s event within the deadline", typ)
	return epc.Event{}
}

// wantPointers checks that an error lists a problem at each pointer.
func wantPointers(t *testing.T, e apiError, pointers ...string) {
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
