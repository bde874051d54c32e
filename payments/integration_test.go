package payments_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/epcflow/epcflow/devserver"
	"github.com/epcflow/epcflow/payments"
	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/sandbox"
)

// updateHistories, when set, records the histories of these runs for the replay test:
// EPCFLOW_UPDATE_HISTORIES=1 go test ./payments/
var updateHistories = os.Getenv("EPCFLOW_UPDATE_HISTORIES") != ""

const taskQueue = "payments-test"

type stack struct {
	t        *testing.T
	temporal client.Client
	engine   string // our API's base URL
	sandbox  string // the sandbox's base URL
}

func newStack(t *testing.T) *stack {
	if testing.Short() {
		t.Skip("starts a Temporal server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := devserver.Start(ctx, devserver.Config{DBPath: devserver.MemoryDB, UIPort: devserver.NoUI})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Stop() })
	quiet := sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	c, err := client.Dial(client.Options{HostPort: srv.FrontendAddress(), Namespace: srv.Namespace(), Logger: quiet})
	require.NoError(t, err)
	t.Cleanup(c.Close)

	sb, err := sandbox.New(sandbox.Config{})
	require.NoError(t, err)
	sbSrv := httptest.NewServer(sb.Handler())
	t.Cleanup(func() { sbSrv.Close(); _ = sb.Close() })

	w := worker.New(c, taskQueue, worker.Options{})
	(&payments.Activities{Inbank: &pos.InbankClient{BaseURL: sbSrv.URL, APIKey: sandbox.DefaultInbankAPIKey}}).Register(w)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	gin.SetMode(gin.TestMode)
	r := gin.New()
	api := httptest.NewServer(r)
	t.Cleanup(api.Close)
	require.NoError(t, payments.Register(r, payments.Config{Temporal: c, TaskQueue: taskQueue,
		APIKey: sandbox.DefaultInbankAPIKey, CallbackBaseURL: api.URL}))
	return &stack{t: t, temporal: c, engine: api.URL, sandbox: sbSrv.URL}
}

func (s *stack) do(method, url string, body []byte, h http.Header, out any) int {
	s.t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	require.NoError(s.t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range h {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(s.t, err)
	if out != nil {
		require.NoError(s.t, json.Unmarshal(b, out), "%s", b)
	}
	return res.StatusCode
}

// body is seed 001's minimal example with shopUuid and partnerUrls; edit changes it.
func body(t *testing.T, edit func(map[string]any)) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "inbank-session-minimal.json"))
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(raw, &doc))
	doc["shopUuid"] = sandbox.DefaultInbankShopUUID
	doc["partnerUrls"] = map[string]any{"returnUrl": "https://shop.test/return", "cancelUrl": "https://shop.test/cancel"}
	if edit != nil {
		edit(doc)
	}
	b, err := json.Marshal(doc)
	require.NoError(t, err)
	return b
}

func (s *stack) create(b []byte) payments.Created {
	s.t.Helper()
	var c payments.Created
	require.Equal(s.t, http.StatusCreated, s.do(http.MethodPost, s.engine+"/v1/payment-sessions", b, nil, &c))
	require.True(s.t, pos.IsUUID(c.ID))
	require.True(s.t, pos.IsUUID(c.POSSessionUUID))
	require.Equal(s.t, pos.StatusPending, c.Status)
	require.Contains(s.t, c.RedirectURL, c.POSSessionUUID)
	return c
}

func (s *stack) act(uuid, action, opts string) {
	s.t.Helper()
	require.Equal(s.t, http.StatusOK, s.do(http.MethodPost, s.sandbox+"/sandbox/inbank/sessions/"+uuid+"/"+action, []byte(opts), nil, nil))
}

func (s *stack) result(id string) payments.Session {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out payments.Session
	require.NoError(s.t, s.temporal.GetWorkflow(ctx, payments.WorkflowID(id), "").Get(ctx, &out))
	return out
}

func (s *stack) session(id string) payments.Session {
	s.t.Helper()
	var out payments.Session
	require.Equal(s.t, http.StatusOK, s.do(http.MethodGet, s.engine+"/v1/payment-sessions/"+id, nil, nil, &out))
	return out
}

// waitFor polls our GET endpoint until cond holds: the workflow's progress is only visible
// through its query.
func (s *stack) waitFor(id string, cond func(payments.Session) bool) payments.Session {
	s.t.Helper()
	var last payments.Session
	require.Eventually(s.t, func() bool { last = s.session(id); return cond(last) }, 20*time.Second, 20*time.Millisecond,
		"session %s stuck at %+v", id, last)
	return last
}

func (s *stack) saveHistory(id, name string) {
	s.t.Helper()
	if !updateHistories {
		return
	}
	it := s.temporal.GetWorkflowHistory(context.Background(), payments.WorkflowID(id), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(s.t, err)
		h.Events = append(h.Events, ev)
	}
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(h)
	require.NoError(s.t, err)
	dir := filepath.Join("testdata", "histories")
	require.NoError(s.t, os.MkdirAll(dir, 0o755))
	require.NoError(s.t, os.WriteFile(filepath.Join(dir, name+".json"), b, 0o644))
}

func (s *stack) callback(id string, key string, status pos.InbankStatus, uuid string) int {
	s.t.Helper()
	now := time.Now()
	b := pos.NewCallbackBody(uuid, status, now)
	h := http.Header{pos.HeaderInbankSignature: {pos.SignCallback(key, b, strconv.FormatInt(now.Unix(), 10))}}
	return s.do(http.MethodPost, s.engine+payments.CallbackPath+"?session="+id, b, h, nil)
}

func TestPaymentSessionsAgainstSandbox(t *testing.T) {
	s := newStack(t)

	t.Run("completed, with duplicate and reordered callbacks", func(t *testing.T) {
		s.t = t
		c := s.create(body(t, nil))
		// The two granted callbacks are held back and arrive after the completed ones.
		s.act(c.POSSessionUUID, "grant", `{"callbacks":{"copies":2,"reorder":true}}`)
		s.act(c.POSSessionUUID, "complete", `{"callbacks":{"copies":2}}`)
		out := s.result(c.ID)
		require.Equal(t, pos.StatusCompleted, out.Status)
		require.NotEmpty(t, out.CreditContractUUID)
		require.Equal(t, pos.StatusCompleted, s.session(c.ID).Status, "GET reads a closed session")
		s.saveHistory(c.ID, "completed-reordered")
	})

	for _, tc := range []struct {
		action string
		want   pos.InbankStatus
	}{
		{"cancel", pos.StatusCancelled}, {"decline", pos.StatusDeclined},
	} {
		t.Run(string(tc.want), func(t *testing.T) {
			s.t = t
			c := s.create(body(t, nil))
			s.act(c.POSSessionUUID, tc.action, `{"callbacks":{"copies":2}}`)
			require.Equal(t, tc.want, s.result(c.ID).Status)
		})
	}

	t.Run("forged callbacks", func(t *testing.T) {
		s.t = t
		c := s.create(body(t, nil))
		require.Equal(t, http.StatusUnauthorized, s.callback(c.ID, "not-the-key", pos.StatusCompleted, c.POSSessionUUID))
		require.Equal(t, http.StatusBadRequest, s.do(http.MethodPost, s.engine+payments.CallbackPath+"?session="+c.ID,
			[]byte(`{"status":1}`), http.Header{pos.HeaderInbankSignature: {strings.Repeat("ab", 64)}}, nil))
		// Signed with the right key but lying: the sandbox still says pending.
		require.Equal(t, http.StatusAccepted, s.callback(c.ID, sandbox.DefaultInbankAPIKey, pos.StatusCompleted, c.POSSessionUUID))
		got := s.waitFor(c.ID, func(x payments.Session) bool { return x.Callbacks == 1 && x.Checks >= 2 })
		require.Equal(t, pos.StatusPending, got.Status)
		s.act(c.POSSessionUUID, "cancel", "")
		require.Equal(t, pos.StatusCancelled, s.result(c.ID).Status)
		// A late callback for an ended session is accepted and ignored.
		require.Equal(t, http.StatusAccepted, s.callback(c.ID, sandbox.DefaultInbankAPIKey, pos.StatusCompleted, c.POSSessionUUID))
	})

	t.Run("Idempotency-Key: one session per key", func(t *testing.T) {
		s.t = t
		b := body(t, nil)
		key := http.Header{payments.IdempotencyKeyHeader: {"order-4711-payment"}}
		var first, again payments.Created
		require.Equal(t, http.StatusCreated, s.do(http.MethodPost, s.engine+"/v1/payment-sessions", b, key, &first))
		// The client lost the answer and asks again: the same session, not a second one.
		resp := s.raw(http.MethodPost, s.engine+"/v1/payment-sessions", b, key)
		require.Equal(t, http.StatusOK, resp.status, resp.body)
		require.Equal(t, "true", resp.header.Get("Idempotent-Replayed"))
		require.NoError(t, json.Unmarshal([]byte(resp.body), &again))
		require.Equal(t, first, again)
		require.Equal(t, 1, s.inbankSessionsFor(first.ID), "Inbank was asked once")

		// The same key with another request is refused; a bad key too.
		other := body(t, func(d map[string]any) { d["purchase"] = map[string]any{"description": "something else"} })
		require.Equal(t, http.StatusUnprocessableEntity, s.do(http.MethodPost, s.engine+"/v1/payment-sessions", other, key, nil))
		require.Equal(t, http.StatusBadRequest, s.do(http.MethodPost, s.engine+"/v1/payment-sessions", b,
			http.Header{payments.IdempotencyKeyHeader: {"has space"}}, nil))

		// Once ended, the key still answers with its session, and starts nothing new.
		s.act(first.POSSessionUUID, "complete", "")
		require.Equal(t, pos.StatusCompleted, s.result(first.ID).Status)
		resp = s.raw(http.MethodPost, s.engine+"/v1/payment-sessions", b, key)
		require.Equal(t, http.StatusOK, resp.status, resp.body)
		require.NoError(t, json.Unmarshal([]byte(resp.body), &again))
		require.Equal(t, first.POSSessionUUID, again.POSSessionUUID)
		require.Equal(t, pos.StatusCompleted, again.Status)
		require.Equal(t, 1, s.inbankSessionsFor(first.ID))
	})

	t.Run("expired at validUntil", func(t *testing.T) {
		s.t = t
		until := time.Now().Add(3 * time.Second).UTC().Truncate(time.Second)
		c := s.create(body(t, func(d map[string]any) { d["validUntil"] = until.Format(time.RFC3339) }))
		out := s.result(c.ID)
		require.Equal(t, pos.StatusExpired, out.Status)
		require.False(t, time.Now().Before(until))
		s.saveHistory(c.ID, "expired")
	})

	t.Run("bad requests", func(t *testing.T) {
		s.t = t
		var e struct {
			Error    string `json:"error"`
			Problems []struct{ Pointer, Message string }
		}
		b := body(t, func(d map[string]any) { delete(d, "shopUuid"); delete(d, "currency"); delete(d, "partnerUrls") })
		require.Equal(t, http.StatusBadRequest, s.do(http.MethodPost, s.engine+"/v1/payment-sessions", b, nil, &e))
		var ptrs []string
		for _, p := range e.Problems {
			ptrs = append(ptrs, p.Pointer)
		}
		require.Subset(t, ptrs, []string{"/shopUuid", "/partnerUrls", ""}, "%+v", e.Problems)

		b = body(t, func(d map[string]any) { d["shopUuid"] = "00000000-0000-4000-8000-000000000000" })
		require.Equal(t, http.StatusBadRequest, s.do(http.MethodPost, s.engine+"/v1/payment-sessions", b, nil, &e))
		require.Len(t, e.Problems, 1)
		require.Equal(t, "/shopUuid", e.Problems[0].Pointer)

		require.Equal(t, http.StatusNotFound, s.do(http.MethodGet, s.engine+"/v1/payment-sessions/00000000-0000-4000-8000-000000000000", nil, nil, nil))
	})
}

type rawReply struct {
	status int
	header http.Header
	body   string
}

func (s *stack) raw(method, url string, body []byte, h http.Header) rawReply {
	s.t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	require.NoError(s.t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawReply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// inbankSessionsFor counts the sessions Inbank holds whose callback names our session id.
func (s *stack) inbankSessionsFor(id string) int {
	s.t.Helper()
	var list []json.RawMessage
	require.Equal(s.t, http.StatusOK, s.do(http.MethodGet, s.sandbox+"/sandbox/inbank/sessions", nil, nil, &list))
	n := 0
	for _, raw := range list {
		if strings.Contains(string(raw), id) {
			n++
		}
	}
	return n
}
