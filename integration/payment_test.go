package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/api"
	"github.com/epcflow/epcflow/internal/testkit"
	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/sandbox"
	"github.com/epcflow/epcflow/workflows"
)

// payments drives the payment flow of a stack: the shop calls our API, the customer acts in
// the sandbox's Inbank.
type payments struct {
	*env
	t *testing.T
}

func (s *payments) do(method, url string, body []byte, h http.Header, out any) int {
	s.t.Helper()
	r := s.raw(method, url, body, h)
	if out != nil {
		require.NoError(s.t, json.Unmarshal([]byte(r.body), out), "%s", r.body)
	}
	return r.status
}

type rawReply struct {
	status int
	header http.Header
	body   string
}

func (s *payments) raw(method, url string, body []byte, h http.Header) rawReply {
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
	b, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	return rawReply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// paymentBody is seed 001's minimal example with shopUuid and partnerUrls; edit changes it.
func paymentBody(t *testing.T, edit func(map[string]any)) []byte {
	t.Helper()
	var doc map[string]any
	testkit.FixtureJSON(t, "pos/testdata/inbank-session-minimal.json", &doc)
	doc["shopUuid"] = sandbox.DefaultInbankShopUUID
	doc["partnerUrls"] = map[string]any{"returnUrl": "https://shop.test/return", "cancelUrl": "https://shop.test/cancel"}
	if edit != nil {
		edit(doc)
	}
	return testkit.Encode(t, doc)
}

func (s *payments) create(b []byte) workflows.PaymentCreated {
	s.t.Helper()
	var c workflows.PaymentCreated
	require.Equal(s.t, http.StatusCreated, s.do(http.MethodPost, s.st.APIURL+api.PaymentSessionsPath, b, nil, &c))
	require.True(s.t, pos.IsUUID(c.ID))
	require.True(s.t, pos.IsUUID(c.POSSessionUUID))
	require.Equal(s.t, pos.StatusPending, c.Status)
	require.Contains(s.t, c.RedirectURL, c.POSSessionUUID)
	return c
}

// act has the customer act on a session in the sandbox's Inbank.
func (s *payments) act(uuid, action, opts string) {
	s.t.Helper()
	require.Equal(s.t, http.StatusOK, s.do(http.MethodPost, s.st.SandboxURL+"/sandbox/inbank/sessions/"+uuid+"/"+action, []byte(opts), nil, nil))
}

func (s *payments) result(id string) workflows.PaymentStatus {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out workflows.PaymentStatus
	require.NoError(s.t, s.st.Client.GetWorkflow(ctx, workflows.PaymentWorkflowID(id), "").Get(ctx, &out))
	return out
}

func (s *payments) session(id string) workflows.PaymentStatus {
	s.t.Helper()
	var out workflows.PaymentStatus
	require.Equal(s.t, http.StatusOK, s.do(http.MethodGet, s.st.APIURL+api.PaymentSessionsPath+"/"+id, nil, nil, &out))
	return out
}

// waitFor polls our GET endpoint until cond holds: the workflow's progress is only visible
// through its query.
func (s *payments) waitFor(id string, cond func(workflows.PaymentStatus) bool) workflows.PaymentStatus {
	s.t.Helper()
	var last workflows.PaymentStatus
	require.Eventually(s.t, func() bool { last = s.session(id); return cond(last) }, 20*time.Second, 20*time.Millisecond,
		"session %s stuck at %+v", id, last)
	return last
}

func (s *payments) callback(id string, key string, status pos.InbankStatus, uuid string) int {
	s.t.Helper()
	now := time.Now()
	b := pos.NewCallbackBody(uuid, status, now)
	h := http.Header{pos.HeaderInbankSignature: {pos.SignCallback(key, b, strconv.FormatInt(now.Unix(), 10))}}
	return s.do(http.MethodPost, s.st.APIURL+api.InbankCallbackPath+"?session="+id, b, h, nil)
}

// inbankSessionsFor counts the sessions Inbank holds whose callback names our session id.
func (s *payments) inbankSessionsFor(id string) int {
	s.t.Helper()
	var list []json.RawMessage
	require.Equal(s.t, http.StatusOK, s.do(http.MethodGet, s.st.SandboxURL+"/sandbox/inbank/sessions", nil, nil, &list))
	n := 0
	for _, raw := range list {
		if strings.Contains(string(raw), id) {
			n++
		}
	}
	return n
}

func (s *payments) saveHistory(id, name string) {
	s.env.saveHistory(context.Background(), "payment", workflows.PaymentWorkflowID(id), name)
}

func TestPaymentSessionsAgainstSandbox(t *testing.T) {
	e := sharedEnv(t)
	s := &payments{env: e, t: t}

	t.Run("completed, with duplicate and reordered callbacks", func(t *testing.T) {
		s.t = t
		c := s.create(paymentBody(t, nil))
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
			c := s.create(paymentBody(t, nil))
			s.act(c.POSSessionUUID, tc.action, `{"callbacks":{"copies":2}}`)
			require.Equal(t, tc.want, s.result(c.ID).Status)
		})
	}

	t.Run("forged callbacks", func(t *testing.T) {
		s.t = t
		c := s.create(paymentBody(t, nil))
		require.Equal(t, http.StatusUnauthorized, s.callback(c.ID, "not-the-key", pos.StatusCompleted, c.POSSessionUUID))
		require.Equal(t, http.StatusBadRequest, s.do(http.MethodPost, s.st.APIURL+api.InbankCallbackPath+"?session="+c.ID,
			[]byte(`{"status":1}`), http.Header{pos.HeaderInbankSignature: {strings.Repeat("ab", 64)}}, nil))
		// Signed with the right key but lying: the sandbox still says pending.
		require.Equal(t, http.StatusAccepted, s.callback(c.ID, sandbox.DefaultInbankAPIKey, pos.StatusCompleted, c.POSSessionUUID))
		got := s.waitFor(c.ID, func(x workflows.PaymentStatus) bool { return x.Callbacks == 1 && x.Checks >= 2 })
		require.Equal(t, pos.StatusPending, got.Status)
		s.act(c.POSSessionUUID, "cancel", "")
		require.Equal(t, pos.StatusCancelled, s.result(c.ID).Status)
		// A late callback for an ended session is accepted and ignored.
		require.Equal(t, http.StatusAccepted, s.callback(c.ID, sandbox.DefaultInbankAPIKey, pos.StatusCompleted, c.POSSessionUUID))
	})

	t.Run("Idempotency-Key: one session per key", func(t *testing.T) {
		s.t = t
		b := paymentBody(t, nil)
		key := http.Header{api.IdempotencyKeyHeader: {"order-4711-payment"}}
		var first, again workflows.PaymentCreated
		require.Equal(t, http.StatusCreated, s.do(http.MethodPost, s.st.APIURL+api.PaymentSessionsPath, b, key, &first))
		// The client lost the answer and asks again: the same session, not a second one.
		resp := s.raw(http.MethodPost, s.st.APIURL+api.PaymentSessionsPath, b, key)
		require.Equal(t, http.StatusOK, resp.status, resp.body)
		require.Equal(t, "true", resp.header.Get("Idempotent-Replayed"))
		require.NoError(t, json.Unmarshal([]byte(resp.body), &again))
		require.Equal(t, first, again)
		require.Equal(t, 1, s.inbankSessionsFor(first.ID), "Inbank was asked once")

		// The same key with another request is refused; a bad key too.
		other := paymentBody(t, func(d map[string]any) { d["purchase"] = map[string]any{"description": "something else"} })
		require.Equal(t, http.StatusUnprocessableEntity, s.do(http.MethodPost, s.st.APIURL+api.PaymentSessionsPath, other, key, nil))
		require.Equal(t, http.StatusBadRequest, s.do(http.MethodPost, s.st.APIURL+api.PaymentSessionsPath, b,
			http.Header{api.IdempotencyKeyHeader: {"has space"}}, nil))

		// Once ended, the key still answers with its session, and starts nothing new.
		s.act(first.POSSessionUUID, "complete", "")
		require.Equal(t, pos.StatusCompleted, s.result(first.ID).Status)
		resp = s.raw(http.MethodPost, s.st.APIURL+api.PaymentSessionsPath, b, key)
		require.Equal(t, http.StatusOK, resp.status, resp.body)
		require.NoError(t, json.Unmarshal([]byte(resp.body), &again))
		require.Equal(t, first.POSSessionUUID, again.POSSessionUUID)
		require.Equal(t, pos.StatusCompleted, again.Status)
		require.Equal(t, 1, s.inbankSessionsFor(first.ID))
	})

	t.Run("expired at validUntil", func(t *testing.T) {
		s.t = t
		until := time.Now().Add(3 * time.Second).UTC().Truncate(time.Second)
		c := s.create(paymentBody(t, func(d map[string]any) { d["validUntil"] = until.Format(time.RFC3339) }))
		out := s.result(c.ID)
		require.Equal(t, pos.StatusExpired, out.Status)
		require.False(t, time.Now().Before(until))
		s.saveHistory(c.ID, "expired")
	})

	t.Run("bad requests", func(t *testing.T) {
		s.t = t
		var e struct {
			Problems []struct{ Pointer, Message string }
		}
		b := paymentBody(t, func(d map[string]any) { delete(d, "shopUuid"); delete(d, "currency"); delete(d, "partnerUrls") })
		require.Equal(t, http.StatusBadRequest, s.do(http.MethodPost, s.st.APIURL+api.PaymentSessionsPath, b, nil, &e))
		var ptrs []string
		for _, p := range e.Problems {
			ptrs = append(ptrs, p.Pointer)
		}
		require.Subset(t, ptrs, []string{"/shopUuid", "/partnerUrls", ""}, "%+v", e.Problems)

		b = paymentBody(t, func(d map[string]any) { d["shopUuid"] = "00000000-0000-4000-8000-000000000000" })
		require.Equal(t, http.StatusBadRequest, s.do(http.MethodPost, s.st.APIURL+api.PaymentSessionsPath, b, nil, &e))
		require.Len(t, e.Problems, 1)
		require.Equal(t, "/shopUuid", e.Problems[0].Pointer)

		require.Equal(t, http.StatusNotFound, s.do(http.MethodGet, s.st.APIURL+api.PaymentSessionsPath+"/00000000-0000-4000-8000-000000000000", nil, nil, nil))
	})
}
