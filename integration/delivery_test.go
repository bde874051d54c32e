package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/epcflow/epcflow/api"
	"github.com/epcflow/epcflow/portal"
	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/sandbox"
	"github.com/epcflow/epcflow/stack"
	"github.com/epcflow/epcflow/workflows"
)

// deliveryEnv drives the delivery flow of a stack: the POS Framework (the sandbox) sends
// package events, recipients follow their portal links.
type deliveryEnv struct {
	*env
	t          *testing.T
	temporal   client.Client
	store      *portal.Store
	apiURL     string
	sandboxURL string
}

// startDelivery starts a stack whose packages are tracked for expiresAfter (0: the default).
func startDelivery(t *testing.T, expiresAfter time.Duration) *deliveryEnv {
	t.Helper()
	needsTemporal(t)
	e := startStack(t, stack.Config{PackageExpiresAfter: expiresAfter})
	return &deliveryEnv{env: e, t: t, temporal: e.st.Client, store: e.st.Portal, apiURL: e.st.APIURL, sandboxURL: e.st.SandboxURL}
}

// createPackage creates (or resends) a package through the sandbox's control API, which posts
// the signed Create Package Event to our /v1/packages.
func (e *deliveryEnv) createPackage(ev pos.PackageEvent) (sandbox.PackageReply, pos.PackageAnswer) {
	e.t.Helper()
	body, err := json.Marshal(ev)
	require.NoError(e.t, err)
	resp, err := http.Post(e.sandboxURL+"/sandbox/pos/packages", "application/json", bytes.NewReader(body))
	require.NoError(e.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	require.Contains(e.t, []int{http.StatusOK, http.StatusCreated}, resp.StatusCode, "sandbox: %s", raw)
	var r sandbox.PackageReply
	require.NoError(e.t, json.Unmarshal(raw, &r))
	require.Equal(e.t, http.StatusOK, r.Partner.Status)
	a, err := pos.ParsePackageAnswer(ev, r.Partner.Body)
	require.NoError(e.t, err)
	return r, a
}

// portalBrowser is a person's browser: a cookie jar, and redirects shown rather than followed.
func portalBrowser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func portalGet(t *testing.T, c *http.Client, u, bearer string) (*http.Response, string) {
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

func (e *deliveryEnv) status(ctx context.Context, key string) workflows.PackageStatus {
	e.t.Helper()
	v, err := e.temporal.QueryWorkflow(ctx, workflows.PackageWorkflowID(key), "", workflows.QueryStatus)
	require.NoError(e.t, err)
	var st workflows.PackageStatus
	require.NoError(e.t, v.Get(&st))
	return st
}

func (e *deliveryEnv) runID(ctx context.Context, key string) string {
	e.t.Helper()
	d, err := e.temporal.DescribeWorkflowExecution(ctx, workflows.PackageWorkflowID(key), "")
	require.NoError(e.t, err)
	return d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
}

func TestPackageEndToEnd(t *testing.T) {
	e := startDelivery(t, 0)
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
	require.Less(t, time.Duration(reply.Partner.Elapsed), time.Second)
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
	b := portalBrowser(t)
	resp, _ := portalGet(t, b, answer.Recipients[0].PortalURL, "")
	require.Equal(t, http.StatusFound, resp.StatusCode)
	loc := resp.Header.Get("Location")
	require.Equal(t, "/portal/packages/pkg-1/recipients/rcp-1/open", loc)
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == api.CookieName {
			ck = c
		}
	}
	require.NotNil(t, ck, "sign-in sets the portal cookie")
	require.True(t, ck.HttpOnly)
	require.Equal(t, http.SameSiteLaxMode, ck.SameSite)

	resp, _ = portalGet(t, b, e.apiURL+loc, "")
	require.Equal(t, http.StatusFound, resp.StatusCode)
	room := resp.Header.Get("Location")
	require.True(t, strings.HasPrefix(room, e.sandboxURL+"/deliveryroom/"), "redirected to the Delivery Room")
	resp, page := portalGet(t, b, room, "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, "recipient rcp-1")
	require.Contains(t, page, "user "+alice.ID)
	resp, _ = portalGet(t, b, room, "")
	require.Equal(t, http.StatusConflict, resp.StatusCode, "the Delivery Room URL works once")

	st := e.status(ctx, key)
	require.True(t, st.Recipients[0].Opened)
	require.Equal(t, alice.ID, st.Recipients[0].UserID)
	require.False(t, st.Recipients[1].Opened)

	// Alice may open again (a fresh session), as the user the recipient is bound to.
	resp, _ = portalGet(t, b, e.apiURL+loc, "")
	require.Equal(t, http.StatusFound, resp.StatusCode)

	// A resend with another e-mail for the bound recipient answers the first answer: the new
	// address was never invited, and gets nothing even with a sign-in link of its own.
	changed := ev
	changed.Recipients = append([]pos.Recipient(nil), ev.Recipients...)
	changed.Recipients[0].Email = "mallory@example.com"
	reply3, _ := e.createPackage(changed)
	require.JSONEq(t, string(reply.Partner.Body), string(reply3.Partner.Body))
	_, signIn, err := api.IssuePortalToken(ctx, e.store, "mallory@example.com", e.apiURL)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(signIn, e.apiURL+api.SignInPath+"?"))
	mallory, _ := e.signIn(signIn)
	resp, _ = portalGet(t, mallory, e.apiURL+loc, "")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	// Nobody else takes rcp-2 before Bob, however fast; Bob opening in two browsers at once
	// gets in twice, bound once.
	openBob := e.apiURL + api.OpenURLPath("pkg-1", "rcp-2")
	resp, _ = portalGet(t, mallory, openBob, "")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	var browsers []*http.Client
	for range 2 {
		b, _ := e.signIn(answer.Recipients[1].PortalURL)
		browsers = append(browsers, b)
	}
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i, b := range browsers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, openBob, nil)
			r, err := b.Do(req)
			if err == nil {
				codes[i] = r.StatusCode
				r.Body.Close()
			}
		}()
	}
	wg.Wait()
	require.Equal(t, []int{http.StatusFound, http.StatusFound}, codes)
	bob, err := e.store.UserByEmail(ctx, "bob@example.com")
	require.NoError(t, err)

	// Both recipients opened: the workflow ends.
	var res workflows.PackageStatus
	require.NoError(t, e.temporal.GetWorkflow(ctx, workflows.PackageWorkflowID(key), "").Get(ctx, &res))
	require.False(t, res.Expired)
	require.True(t, res.AllOpened())
	require.Equal(t, alice.ID, res.Recipients[0].UserID)
	require.Equal(t, bob.ID, res.Recipients[1].UserID)
	e.saveHistory(ctx, "delivery", workflows.PackageWorkflowID(key), "package-all-opened")
}

func TestPortalRefusals(t *testing.T) {
	e := startDelivery(t, time.Second)
	ctx := ctxFor(t, time.Minute)
	ev := pos.PackageEvent{
		InstanceID: "inst-2", GroupNamespace: "loans", GroupID: "loan-guid-2", PackageID: "pkg-2",
		Recipients: []pos.Recipient{{RecipientID: "rcp-1", FirstName: "Eve", LastName: "E", Email: "eve@example.com", Role: pos.RoleBorrower}},
	}
	body, err := json.Marshal(ev)
	require.NoError(t, err)
	post := func(h http.Header, body []byte) (int, string) {
		req, err := http.NewRequest(http.MethodPost, e.apiURL+api.PackagesPath, bytes.NewReader(body))
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
		_, err := e.store.PackageRecord(ctx, ev.Key())
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

	_, answer := e.createPackage(ev)
	eve, _ := e.signIn(answer.Recipients[0].PortalURL)
	open := e.apiURL + api.OpenURLPath("pkg-2", "rcp-1")
	link := answer.Recipients[0].PortalURL

	tests := []struct {
		name, url string
		browser   *http.Client
		want      int
	}{
		{"open without sign-in", open, portalBrowser(t), http.StatusUnauthorized},
		{"unknown package", e.apiURL + api.OpenURLPath("pkg-x", "rcp-1"), eve, http.StatusNotFound},
		{"not a recipient", e.apiURL + api.OpenURLPath("pkg-2", "rcp-9"), eve, http.StatusNotFound},
		{"sign-in with an unknown token", api.SignInURL(e.apiURL, "pt_unknown", "/portal/x"), portalBrowser(t), http.StatusUnauthorized},
		{"sign-in with a forged invitation", api.SignInURL(e.apiURL, inviteToken(t, link)+"x", "/portal/x"), portalBrowser(t), http.StatusUnauthorized},
		{"sign-in to another site", api.SignInURL(e.apiURL, inviteToken(t, link), "https://evil.example/portal/"), portalBrowser(t), http.StatusBadRequest},
		{"sign-in to a protocol-relative URL", api.SignInURL(e.apiURL, inviteToken(t, link), "//evil.example/portal/"), portalBrowser(t), http.StatusBadRequest},
		{"sign-in out of the portal", api.SignInURL(e.apiURL, inviteToken(t, link), "/portal/../v1/packages"), portalBrowser(t), http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := portalGet(t, tc.browser, tc.url, "")
			require.Equal(t, tc.want, resp.StatusCode)
			require.Empty(t, resp.Cookies())
		})
	}

	// Nobody opened within ExpiresAfter: the workflow ends expired. Opening later still works
	// (the Delivery Room decides); the finished workflow has nothing left to record.
	var res workflows.PackageStatus
	require.NoError(t, e.temporal.GetWorkflow(ctx, workflows.PackageWorkflowID(ev.Key()), "").Get(ctx, &res))
	require.True(t, res.Expired)
	require.False(t, res.Recipients[0].Opened)
	resp, _ := portalGet(t, eve, open, "")
	require.Equal(t, http.StatusFound, resp.StatusCode)
	e.saveHistory(ctx, "delivery", workflows.PackageWorkflowID(ev.Key()), "package-expired")
}
