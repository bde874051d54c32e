package api

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/epcflow/epcflow/blobs"
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/metrics"
	"github.com/epcflow/epcflow/schemas"
	"github.com/epcflow/epcflow/workflows"
)

const (
	signingKey = "test-signing-key-7f3a"
	txID       = "0bf34a40-8ca1-4b58-8cbc-dd6b9f67dc63"
)

// sign computes Elli-Signature independently of package epc.
func sign(key string, body []byte) string {
	h := hmac.New(sha256.New, []byte(key))
	h.Write(body)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type actionCall[T any] struct {
	id string
	in T
}

// fakeEngine records every call. Each method answers err (when set) or a fixed result;
// hooks let a test block or panic.
type fakeEngine struct {
	mu         sync.Mutex
	webhooks   []epc.Webhook
	statusIDs  []string
	schedules  []actionCall[workflows.ScheduleInput]
	delivers   []actionCall[workflows.DeliverInput]
	progresses []actionCall[workflows.ProgressInput]

	err    error
	status workflows.Status
	// hook, when set, runs first in every method; a non-nil return is the method's error.
	hook func(ctx context.Context) error
}

var okResult = workflows.ActionResult{Stage: workflows.StageAwaitReport, Message: "done"}

func (f *fakeEngine) answer(ctx context.Context) error {
	f.mu.Lock()
	hook, err := f.hook, f.err
	f.mu.Unlock()
	if hook != nil {
		if herr := hook(ctx); herr != nil {
			return herr
		}
	}
	return err
}

func (f *fakeEngine) DeliverWebhook(ctx context.Context, w epc.Webhook) (string, error) {
	f.mu.Lock()
	f.webhooks = append(f.webhooks, w)
	f.mu.Unlock()
	if err := f.answer(ctx); err != nil {
		return "", err
	}
	return "run-1", nil
}

func (f *fakeEngine) Status(ctx context.Context, id string) (workflows.Status, error) {
	f.mu.Lock()
	f.statusIDs = append(f.statusIDs, id)
	st := f.status
	f.mu.Unlock()
	if err := f.answer(ctx); err != nil {
		return workflows.Status{}, err
	}
	return st, nil
}

func (f *fakeEngine) Schedule(ctx context.Context, id string, in workflows.ScheduleInput) (workflows.ActionResult, error) {
	f.mu.Lock()
	f.schedules = append(f.schedules, actionCall[workflows.ScheduleInput]{id, in})
	f.mu.Unlock()
	if err := f.answer(ctx); err != nil {
		return workflows.ActionResult{}, err
	}
	return okResult, nil
}

func (f *fakeEngine) Deliver(ctx context.Context, id string, in workflows.DeliverInput) (workflows.ActionResult, error) {
	f.mu.Lock()
	f.delivers = append(f.delivers, actionCall[workflows.DeliverInput]{id, in})
	f.mu.Unlock()
	if err := f.answer(ctx); err != nil {
		return workflows.ActionResult{}, err
	}
	return okResult, nil
}

func (f *fakeEngine) Progress(ctx context.Context, id string, in workflows.ProgressInput) (workflows.ActionResult, error) {
	f.mu.Lock()
	f.progresses = append(f.progresses, actionCall[workflows.ProgressInput]{id, in})
	f.mu.Unlock()
	if err := f.answer(ctx); err != nil {
		return workflows.ActionResult{}, err
	}
	return okResult, nil
}

func (f *fakeEngine) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeEngine) setHook(h func(ctx context.Context) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hook = h
}

func (f *fakeEngine) setStatus(st workflows.Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status = st
}

// recorded returns a copy of the calls received so far.
func (f *fakeEngine) recorded() fakeEngineCalls {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fakeEngineCalls{
		webhooks:   append([]epc.Webhook(nil), f.webhooks...),
		statusIDs:  append([]string(nil), f.statusIDs...),
		schedules:  append([]actionCall[workflows.ScheduleInput](nil), f.schedules...),
		delivers:   append([]actionCall[workflows.DeliverInput](nil), f.delivers...),
		progresses: append([]actionCall[workflows.ProgressInput](nil), f.progresses...),
	}
}

type fakeEngineCalls struct {
	webhooks   []epc.Webhook
	statusIDs  []string
	schedules  []actionCall[workflows.ScheduleInput]
	delivers   []actionCall[workflows.DeliverInput]
	progresses []actionCall[workflows.ProgressInput]
}

// calls counts every call the engine received.
func (f *fakeEngine) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.webhooks) + len(f.statusIDs) + len(f.schedules) + len(f.delivers) + len(f.progresses)
}

// logBuffer collects JSON log lines and signals each write, so tests wait for a line
// instead of sleeping.
type logBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	notify chan struct{}
}

func newLogBuffer() *logBuffer { return &logBuffer{notify: make(chan struct{}, 1)} }

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.buf.Write(p)
	select {
	case l.notify <- struct{}{}:
	default:
	}
	return n, err
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		out = append(out, m)
	}
	return out
}

// waitLine waits for a log line matching match.
func (l *logBuffer) waitLine(t *testing.T, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		for _, m := range l.lines(t) {
			if match(m) {
				return m
			}
		}
		select {
		case <-l.notify:
		case <-deadline:
			t.Fatalf("no matching log line; log:\n%s", l.String())
		}
	}
}

type testAPI struct {
	srv    *httptest.Server
	eng    *fakeEngine
	logs   *logBuffer
	blobs  blobs.Store
	reg    *metrics.Registry
	cfg    Config
	client *http.Client
}

func newTestAPI(t testing.TB, opts ...func(*Config)) *testAPI {
	t.Helper()
	eng := &fakeEngine{}
	v, err := epc.NewVerifier(signingKey)
	if err != nil {
		t.Fatal(err)
	}
	store, err := blobs.NewStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	logs := newLogBuffer()
	reg := metrics.New()
	cfg := Config{
		Engine:   eng,
		Verifier: v,
		Blobs:    store,
		Logger:   slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics:  reg,
	}
	for _, o := range opts {
		o(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testAPI{srv: srv, eng: eng, logs: logs, blobs: store, reg: reg, cfg: cfg, client: srv.Client()}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response body is not a JSON object: %v: %q", err, r.body)
	}
	return m
}

func (r response) problems(t *testing.T) []schemas.Problem {
	t.Helper()
	return r.errorBody(t).Problems
}

// errorBody decodes an error answer, which must be exactly ErrorBody: a code, a message and
// the problems (a list, empty when there are none), nothing else.
func (r response) errorBody(t *testing.T) ErrorBody {
	t.Helper()
	return decodeErrorBody(t, r.status, r.body)
}

func decodeErrorBody(t *testing.T, status int, body []byte) ErrorBody {
	t.Helper()
	var b ErrorBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		t.Fatalf("status %d: not the error body: %v: %q", status, err, body)
	}
	if status < 400 || b.Code == "" || b.Message == "" || b.Problems == nil || !bytes.Contains(body, []byte(`"problems":`)) {
		t.Fatalf("status %d: incomplete error body %q", status, body)
	}
	for _, p := range b.Problems {
		if p.Pointer != "" && !strings.HasPrefix(p.Pointer, "/") || p.Message == "" {
			t.Fatalf("status %d: malformed problem %+v", status, p)
		}
	}
	return b
}

func (a *testAPI) do(t *testing.T, method, path string, body io.Reader, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, a.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (a *testAPI) postJSON(t *testing.T, path, body string, header map[string]string) response {
	t.Helper()
	h := map[string]string{"Content-Type": "application/json"}
	for k, v := range header {
		h[k] = v
	}
	return a.do(t, http.MethodPost, path, strings.NewReader(body), h)
}

// webhook posts body signed with key ("" = no signature header).
func (a *testAPI) webhook(t *testing.T, body []byte, key string) response {
	t.Helper()
	h := map[string]string{"Content-Type": "application/json"}
	if key != "" {
		h[epc.SignatureHeader] = sign(key, body)
	}
	return a.do(t, http.MethodPost, "/webhooks/epc", bytes.NewReader(body), h)
}

func pointers(ps []schemas.Problem) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Pointer
	}
	return out
}

func hasPointer(ps []schemas.Problem, ptr string) bool {
	for _, p := range ps {
		if p.Pointer == ptr {
			return true
		}
	}
	return false
}
