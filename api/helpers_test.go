package api

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/epcflow/epcflow/blobs"
	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/internal/testkit"
	"github.com/epcflow/epcflow/metrics"
	"github.com/epcflow/epcflow/portal"
	"github.com/epcflow/epcflow/pos"
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

// fixture reads a file of api/testdata.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	return testkit.Fixture(t, "api/testdata/"+name)
}

type actionCall[T any] struct {
	id string
	in T
}

// fakeEngine records every call. Each method answers err (when set) or a fixed result;
// hooks let a test block or panic.
type fakeEngine struct {
	mu sync.Mutex
	fakeEngineCalls

	err    error
	status workflows.Status
	// deliverErr, when set, is Deliver's answer: the workflow refused the report after the
	// API stored it (a cancellation in between, say).
	deliverErr error
	// hook, when set, runs first in every method; a non-nil return is the method's error.
	hook func(ctx context.Context) error
}

var okResult = workflows.ActionResult{Stage: workflows.StageAwaitReport, Message: "done"}

// awaitingReport is the status of an Appraisal order waiting for its report: the fake
// engine's, unless a test sets another.
var awaitingReport = workflows.Status{
	TransactionID: txID, RequestType: workflows.TypeAppraisal, Stage: workflows.StageAwaitReport,
	Inspection: &workflows.ScheduleInput{InspectionAt: time.Date(2026, 7, 1, 14, 0, 0, 0, time.UTC)},
}

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

func (f *fakeEngine) DeliverWebhook(ctx context.Context, w epc.Webhook, bodySHA256 string) (string, error) {
	f.mu.Lock()
	f.webhooks = append(f.webhooks, w)
	f.digests = append(f.digests, bodySHA256)
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

// action records an operator action in calls, then answers okResult (or the error).
func action[T any](ctx context.Context, f *fakeEngine, calls *[]actionCall[T], id string, in T) (workflows.ActionResult, error) {
	f.mu.Lock()
	*calls = append(*calls, actionCall[T]{id, in})
	f.mu.Unlock()
	if err := f.answer(ctx); err != nil {
		return workflows.ActionResult{}, err
	}
	return okResult, nil
}

func (f *fakeEngine) Schedule(ctx context.Context, id string, in workflows.ScheduleInput) (workflows.ActionResult, error) {
	return action(ctx, f, &f.schedules, id, in)
}

func (f *fakeEngine) Deliver(ctx context.Context, id string, in workflows.DeliverInput) (workflows.ActionResult, error) {
	res, err := action(ctx, f, &f.delivers, id, in)
	f.mu.Lock()
	derr := f.deliverErr
	f.mu.Unlock()
	if err == nil && derr != nil {
		return workflows.ActionResult{}, derr
	}
	return res, err
}

func (f *fakeEngine) Progress(ctx context.Context, id string, in workflows.ProgressInput) (workflows.ActionResult, error) {
	return action(ctx, f, &f.progresses, id, in)
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

// recorded returns the calls received so far. The lists are only ever appended to, so the
// copy's elements never change under the caller.
func (f *fakeEngine) recorded() fakeEngineCalls {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fakeEngineCalls
}

// fakeEngineCalls are the calls a fakeEngine received, in order.
type fakeEngineCalls struct {
	webhooks   []epc.Webhook
	digests    []string
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

type testAPI struct {
	srv    *httptest.Server
	eng    *fakeEngine
	logs   *testkit.Logs
	blobs  blobs.Store
	reg    *metrics.Registry
	cfg    Config
	client *http.Client
}

func newTestAPI(t testing.TB, opts ...func(*Config)) *testAPI {
	t.Helper()
	eng := &fakeEngine{status: awaitingReport}
	logs := &testkit.Logs{}
	cfg := baseConfig(t, eng)
	cfg.Logger, cfg.Metrics = logs.JSON(), metrics.New()
	srv := httptest.NewServer(newHandler(t, &cfg, opts))
	t.Cleanup(srv.Close)
	return &testAPI{srv: srv, eng: eng, logs: logs, blobs: cfg.Blobs, reg: cfg.Metrics, cfg: cfg, client: srv.Client()}
}

// baseConfig is what every test's handler starts from: eng, a verifier of signingKey and a
// blob store in a directory of the test's.
func baseConfig(tb testing.TB, eng Engine) Config {
	tb.Helper()
	v, err := epc.NewVerifier(signingKey)
	if err != nil {
		tb.Fatal(err)
	}
	store, err := blobs.NewStore(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	return Config{Engine: eng, Verifier: v, Blobs: store}
}

// newHandler applies opts to cfg (which keeps the result) and builds the handler.
func newHandler(tb testing.TB, cfg *Config, opts []func(*Config)) http.Handler {
	tb.Helper()
	for _, o := range opts {
		o(cfg)
	}
	h, err := New(*cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// deliveryParts is what the package-delivery routes need besides Temporal: a portal store in
// memory (closed when the test ends) and a POS Framework signer with secret.
func deliveryParts(t testing.TB, secret string) (*portal.Store, *pos.Signer) {
	t.Helper()
	store, err := portal.Open(context.Background(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	signer, err := pos.NewSigner("", "integration-1", "key-1", secret)
	if err != nil {
		t.Fatal(err)
	}
	return store, signer
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

func (a *testAPI) do(t testing.TB, method, path string, body io.Reader, header map[string]string) response {
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
