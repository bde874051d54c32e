package delivery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
	"go.temporal.io/sdk/workflow"

	"github.com/epcflow/epcflow/delivery"
	"github.com/epcflow/epcflow/devserver"
	"github.com/epcflow/epcflow/portal"
	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/sandbox"
)

// updateHistories, when set, writes the package workflow's history to testdata/histories for
// the replay test: EPCFLOW_UPDATE_HISTORIES=1 go test ./delivery/
var updateHistories = os.Getenv("EPCFLOW_UPDATE_HISTORIES") != ""

const taskQueue = "delivery-test"

type deliveryEnv struct {
	t          *testing.T
	temporal   client.Client
	store      *portal.Store
	apiURL     string
	sandboxURL string
}

func quietLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startEnv starts Temporal, a worker, the portal database, the sandbox and our endpoints;
// expiresAfter is the packages' tracking time (0: the default).
func startEnv(t *testing.T, expiresAfter time.Duration) *deliveryEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := devserver.Start(ctx, devserver.Config{DBPath: devserver.MemoryDB, UIPort: devserver.NoUI})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Stop() })
	tc, err := client.DialContext(ctx, client.Options{HostPort: srv.FrontendAddress(), Namespace: srv.Namespace(),
		Logger: sdklog.NewStructuredLogger(quietLog())})
	require.NoError(t, err)
	t.Cleanup(tc.Close)
	w := worker.New(tc, taskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(delivery.PackageDelivery, workflow.RegisterOptions{Name: delivery.PackageWorkflowName})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	store, err := portal.Open(ctx, filepath.Join(t.TempDir(), "portal.db"))
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })

	gin.SetMode(gin.TestMode)
	engine := gin.New()
	api := httptest.NewServer(engine)
	t.Cleanup(api.Close)

	sb, err := sandbox.New(sandbox.Config{PartnerURL: api.URL, WebhookRetryInterval: 50 * time.Millisecond, Logger: quietLog()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sb.Close() })
	sbSrv := httptest.NewServer(sb.Handler())
	t.Cleanup(sbSrv.Close)

	signer, err := pos.NewSigner("", sandbox.DefaultPOSSubscriptionID, sandbox.DefaultPOSSigningKeyID, sandbox.DefaultPOSSigningSecret)
	require.NoError(t, err)
	// Routes are added before the first request reaches the engine.
	require.NoError(t, delivery.Register(engine, delivery.Config{
		Verifier:      signer.Verifier(),
		Portal:        store,
		Temporal:      tc,
		TaskQueue:     taskQueue,
		PortalBaseURL: api.URL,
		DeliveryRoom:  &pos.DeliveryRoomClient{BaseURL: sbSrv.URL, Signer: signer},
		Logger:        quietLog(),
		ExpiresAfter:  expiresAfter,
	}))
	return &deliveryEnv{t: t, temporal: tc, store: store, apiURL: api.URL, sandboxURL: sbSrv.URL}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// sandboxReply is what POST /sandbox/pos/packages answers.
type sandboxReply struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Partner struct {
		Status  int             `json:"status"`
		Body    json.RawMessage `json:"body"`
		Elapsed string          `json:"elapsed"`
	} `json:"partner"`
}

// createPackage creates (or resends) a package through the sandbox's control API, which posts
// the signed Create Package Event to our /v1/packages.
func (e *deliveryEnv) createPackage(ev pos.PackageEvent) (sandboxReply, pos.PackageAnswer) {
	e.t.Helper()
	body, err := json.Marshal(ev)
	require.NoError(e.t, err)
	resp, err := http.Post(e.sandboxURL+"/sandbox/pos/packages", "application/json", bytes.NewReader(body))
	require.NoError(e.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	require.Contains(e.t, []int{http.StatusOK, http.StatusCreated}, resp.StatusCode, "sandbox: %s", raw)
	var r sandboxReply
	require.NoError(e.t, json.Unmarshal(raw, &r))
	require.Equal(e.t, http.StatusOK, r.Partner.Status)
	a, err := pos.ParsePackageAnswer(ev, r.Partner.Body)
	require.NoError(e.t, err)
	return r, a
}

// browser is a person's browser: a cookie jar, and redirects shown rather than followed.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u, bearer string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func (e *deliveryEnv) status(ctx context.Context, key string) delivery.PackageStatus {
	e.t.Helper()
	v, err := e.temporal.QueryWorkflow(ctx, delivery.PackageWorkflowID(key), "", delivery.QueryStatus)
	require.NoError(e.t, err)
	var st delivery.PackageStatus
	require.NoError(e.t, v.Get(&st))
	return st
}

func (e *deliveryEnv) runID(ctx context.Context, key string) string {
	e.t.Helper()
	d, err := e.temporal.DescribeWorkflowExecution(ctx, delivery.PackageWorkflowID(key), "")
	require.NoError(e.t, err)
	return d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
}

func TestPackageEndToEnd(t *testing.T) {
	e := startEnv(t, 0)
	ctx := ctxFor(t, 2*time.Minute)
	ev := pos.PackageEvent{
		InstanceID: "inst-1", GroupNamespace: "loans", GroupID: "loan-guid-1", PackageID: "pkg-1",
		Recipients: []pos.Recipient{
			{RecipientID: "rcp-1", FirstName: "Alice", LastName: "<Borrower>", Email: "alice@example.com", Role: pos.RoleBorrower},
			{RecipientID: "rcp-2", FirstName: "Bob", LastName: "Co", Email: "bob@example.com", Role: pos.RoleCoBorrower},
		},
	}

	// The package reaches /v1/packages through the sandbox; the answer came in under 1 s.
	reply, answer := e.createPackage(ev)
	elapsed, err := time.ParseDuration(reply.Partner.Elapsed)
	require.NoError(t, err)
	require.Less(t, elapsed, time.Second)
	require.Len(t, answer.Recipients, 2)
	require.Contains(t, answer.Recipients[0].EmailHTML, "&lt;Borrower&gt;", "names are escaped")
	require.NotContains(t, answer.Recipients[0].EmailHTML, "<Borrower>")

	// Each recipient got a portal user.
	alice, err := e.store.UserByEmail(ctx, "alice@example.com")
	require.NoError(t, err)
	_, err = e.store.UserByEmail(ctx, "bob@example.com")
	require.NoError(t, err)

	key := ev.Key()
	firstRun := e.runID(ctx, key)

	// A resent identical event gets the same answer and starts nothing new.
	reply2, _ := e.createPackage(ev)
	require.JSONEq(t, string(reply.Partner.Body), string(reply2.Partner.Body))
	require.Equal(t, firstRun, e.runID(ctx, key))

	// Alice opens her link: sign-in sets the cookie and leads to the open endpoint, which
	// redirects to a Delivery Room page that works once.
	b := browser(t)
	resp, _ := get(t, b, answer.Recipients[0].PortalURL, "")
	require.Equal(t, http.StatusFound, resp.StatusCode)
	loc := resp.Header.Get("Location")
	require.Equal(t, "/portal/packages/pkg-1/recipients/rcp-1/open", loc)
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == delivery.CookieName {
			ck = c
		}
	}
	require.NotNil(t, ck, "sign-in sets the portal cookie")
	require.True(t, ck.HttpOnly)
	require.Equal(t, http.SameSiteLaxMode, ck.SameSite)

	resp, _ = get(t, b, e.apiURL+loc, "")
	require.Equal(t, http.StatusFound, resp.StatusCode)
	room := resp.Header.Get("Location")
	require.True(t, strings.HasPrefix(room, e.sandboxURL+"/deliveryroom/"), "redirected to the Delivery Room")
	resp, page := get(t, b, room, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, "recipient rcp-1")
	require.Contains(t, page, "user "+alice.ID)
	resp, _ = get(t, b, room, "")
	require.Equal(t, http.StatusConflict, resp.StatusCode, "the Delivery Room URL works once")

	st := e.status(ctx, key)
	require.True(t, st.Recipients[0].Opened)
	require.Equal(t, alice.ID, st.Recipients[0].UserID)
	require.False(t, st.Recipients[1].Opened)

	// Alice may open again (a fresh session), as the user the recipient is bound to.
	resp, _ = get(t, b, e.apiURL+loc, "")
	require.Equal(t, http.StatusFound, resp.StatusCode)

	// A resend with another e-mail for the bound recipient: the new user cannot open it.
	changed := ev
	changed.Recipients = append([]pos.Recipient(nil), ev.Recipients...)
	changed.Recipients[0].Email = "mallory@example.com"
	reply3, _ := e.createPackage(changed)
	require.JSONEq(t, string(reply.Partner.Body), string(reply3.Partner.Body))
	malloryToken, signIn, err := delivery.IssueToken(ctx, e.store, "mallory@example.com", e.apiURL)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(signIn, e.apiURL+delivery.SignInPath+"?"))
	resp, _ = get(t, browser(t), e.apiURL+loc, malloryToken)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)

	// Two users race for rcp-2: exactly one wins.
	carol, _, err := delivery.IssueToken(ctx, e.store, "carol@example.com", "")
	require.NoError(t, err)
	dave, _, err := delivery.IssueToken(ctx, e.store, "dave@example.com", "")
	require.NoError(t, err)
	openBob := e.apiURL + delivery.OpenURLPath("pkg-1", "rcp-2")
	noRedirect := &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i, tok := range []string{carol, dave} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, openBob, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			r, err := noRedirect.Do(req)
			if err == nil {
				codes[i] = r.StatusCode
				r.Body.Close()
			}
		}()
	}
	wg.Wait()
	require.ElementsMatch(t, []int{http.StatusFound, http.StatusForbidden}, codes)
	winner := carol
	if codes[1] == http.StatusFound {
		winner = dave
	}
	winnerUser, err := e.store.UserByToken(ctx, winner)
	require.NoError(t, err)

	// Both recipients opened: the workflow ends.
	var res delivery.PackageStatus
	require.NoError(t, e.temporal.GetWorkflow(ctx, delivery.PackageWorkflowID(key), "").Get(ctx, &res))
	require.False(t, res.Expired)
	require.True(t, res.AllOpened())
	require.Equal(t, alice.ID, res.Recipients[0].UserID)
	require.Equal(t, winnerUser.ID, res.Recipients[1].UserID)
	e.saveHistory(ctx, key, "package-all-opened")
}

func TestPortalRefusals(t *testing.T) {
	e := startEnv(t, time.Second)
	ctx := ctxFor(t, time.Minute)
	ev := pos.PackageEvent{
		InstanceID: "inst-2", GroupNamespace: "loans", GroupID: "loan-guid-2", PackageID: "pkg-2",
		Recipients: []pos.Recipient{{RecipientID: "rcp-1", FirstName: "Eve", LastName: "E", Email: "eve@example.com", Role: pos.RoleBorrower}},
	}
	body, err := json.Marshal(ev)
	require.NoError(t, err)
	post := func(h http.Header, body []byte) (int, string) {
		req, err := http.NewRequest(http.MethodPost, e.apiURL+delivery.PackagesPath, bytes.NewReader(body))
		require.NoError(t, err)
		req.Header = h
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	good, err := pos.NewSigner("", sandbox.DefaultPOSSubscriptionID, sandbox.DefaultPOSSigningKeyID, sandbox.DefaultPOSSigningSecret)
	require.NoError(t, err)
	bad, err := pos.NewSigner("", sandbox.DefaultPOSSubscriptionID, sandbox.DefaultPOSSigningKeyID, "another-secret")
	require.NoError(t, err)

	t.Run("bad signature: 401, nothing started", func(t *testing.T) {
		code, msg := post(bad.Header(body), body)
		require.Equal(t, http.StatusUnauthorized, code)
		require.Contains(t, msg, pos.HeaderSignature)
		code, _ = post(http.Header{}, body)
		require.Equal(t, http.StatusUnauthorized, code)
		_, err := e.store.Answer(ctx, ev.Key())
		require.ErrorIs(t, err, portal.ErrNotFound)
		_, err = e.store.UserByEmail(ctx, "eve@example.com")
		require.ErrorIs(t, err, portal.ErrNotFound)
	})
	t.Run("invalid event: 400 with every problem", func(t *testing.T) {
		b := []byte(`{"instanceId":"i","groupNamespace":"loans","groupId":"g","recipients":[{"recipientId":"r","firstName":"A","lastName":"B","email":"nope","role":"x"}]}`)
		code, msg := post(good.Header(b), b)
		require.Equal(t, http.StatusBadRequest, code)
		var eb struct {
			Problems []struct{ Pointer string } `json:"problems"`
		}
		require.NoError(t, json.Unmarshal([]byte(msg), &eb))
		var ptrs []string
		for _, p := range eb.Problems {
			ptrs = append(ptrs, p.Pointer)
		}
		require.ElementsMatch(t, []string{"/packageId", "/recipients/0/email", "/recipients/0/role"}, ptrs)
	})

	e.createPackage(ev)
	tok, _, err := delivery.IssueToken(ctx, e.store, "eve@example.com", "")
	require.NoError(t, err)
	open := e.apiURL + delivery.OpenURLPath("pkg-2", "rcp-1")

	tests := []struct {
		name, url, bearer string
		want              int
	}{
		{"open without sign-in", open, "", http.StatusUnauthorized},
		{"open with an unknown token", open, "pt_unknown", http.StatusUnauthorized},
		{"unknown package", e.apiURL + delivery.OpenURLPath("pkg-x", "rcp-1"), tok, http.StatusNotFound},
		{"not a recipient", e.apiURL + delivery.OpenURLPath("pkg-2", "rcp-9"), tok, http.StatusNotFound},
		{"sign-in with an unknown token", delivery.SignInURL(e.apiURL, "pt_unknown", "/portal/x"), "", http.StatusUnauthorized},
		{"sign-in to another site", delivery.SignInURL(e.apiURL, tok, "https://evil.example/portal/"), "", http.StatusBadRequest},
		{"sign-in to a protocol-relative URL", delivery.SignInURL(e.apiURL, tok, "//evil.example/portal/"), "", http.StatusBadRequest},
		{"sign-in out of the portal", delivery.SignInURL(e.apiURL, tok, "/portal/../v1/packages"), "", http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := get(t, browser(t), tc.url, tc.bearer)
			require.Equal(t, tc.want, resp.StatusCode)
			require.Empty(t, resp.Cookies())
		})
	}

	// Nobody opened within ExpiresAfter: the workflow ends expired. Opening later still works
	// (the Delivery Room decides); the finished workflow has nothing left to record.
	var res delivery.PackageStatus
	require.NoError(t, e.temporal.GetWorkflow(ctx, delivery.PackageWorkflowID(ev.Key()), "").Get(ctx, &res))
	require.True(t, res.Expired)
	require.False(t, res.Recipients[0].Opened)
	resp, _ := get(t, browser(t), open, tok)
	require.Equal(t, http.StatusFound, resp.StatusCode)
	e.saveHistory(ctx, ev.Key(), "package-expired")
}

// saveHistory writes the package workflow's history for the replay test when updating.
func (e *deliveryEnv) saveHistory(ctx context.Context, key, name string) {
	e.t.Helper()
	if !updateHistories {
		return
	}
	it := e.temporal.GetWorkflowHistory(ctx, delivery.PackageWorkflowID(key), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(e.t, err)
		h.Events = append(h.Events, ev)
	}
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(h)
	require.NoError(e.t, err)
	dir := filepath.Join("testdata", "histories")
	require.NoError(e.t, os.MkdirAll(dir, 0o755))
	require.NoError(e.t, os.WriteFile(filepath.Join(dir, name+".json"), b, 0o644))
}

func TestReplayRecordedHistories(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "histories", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, paths, "no recorded histories in testdata/histories (EPCFLOW_UPDATE_HISTORIES=1 go test ./delivery/)")
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(delivery.PackageDelivery, workflow.RegisterOptions{Name: delivery.PackageWorkflowName})
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			require.NoError(t, r.ReplayWorkflowHistoryFromJSONFile(sdklog.NewStructuredLogger(quietLog()), p))
		})
	}
}
