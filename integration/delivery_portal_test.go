package integration

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/api"
	"github.com/epcflow/epcflow/internal/testkit"
	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/stack"
)

// The portal's rules, each kept as the reproduction of issue 10 (§1 authorization, §5
// secrets at rest) and issue 14 (the page a signed-in user lands on).

// startPortal starts a stack whose logs are also kept in logs, with the portal database in a
// file of its own (so what it stores can be read back).
func startPortal(t *testing.T, logs *testkit.Logs) (*deliveryEnv, string) {
	t.Helper()
	needsTemporal(t)
	dir := t.TempDir()
	dsn := filepath.Join(dir, "portal.db")
	log := slog.New(slog.NewJSONHandler(io.MultiWriter(logs, testkit.Output(t)), &slog.HandlerOptions{Level: slog.LevelInfo}))
	e := startStack(t, stack.Config{PortalDSN: dsn, Logger: log})
	return &deliveryEnv{env: e, t: t, temporal: e.st.Client, store: e.st.Portal, apiURL: e.st.APIURL, sandboxURL: e.st.SandboxURL}, dsn
}

// signIn follows an invitation link in a fresh browser and returns it signed in, with the
// sign-in answer.
func (e *deliveryEnv) signIn(link string) (*http.Client, *http.Response) {
	e.t.Helper()
	b := portalBrowser(e.t)
	resp, _ := portalGet(e.t, b, link, "")
	require.Equal(e.t, http.StatusFound, resp.StatusCode, "sign-in with %s", link)
	return b, resp
}

// portalCookie is the browser's portal cookie ("" when none).
func (e *deliveryEnv) portalCookie(b *http.Client) string {
	u, err := url.Parse(e.apiURL + "/portal/")
	require.NoError(e.t, err)
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == api.CookieName {
			return c.Value
		}
	}
	return ""
}

func inviteToken(t *testing.T, link string) string {
	u, err := url.Parse(link)
	require.NoError(t, err)
	return u.Query().Get("token")
}

// TestPortalOpensOnlyTheInvitedRecipient: a portal user invited for package A cannot take a
// recipient of package B, whoever opens first; every refusal looks the same, is logged without
// tokens and counts against the user's rate limit.
func TestPortalOpensOnlyTheInvitedRecipient(t *testing.T) {
	logs := &testkit.Logs{}
	e, _ := startPortal(t, logs)
	ctx := ctxFor(t, 2*time.Minute)

	_, a := e.createPackage(pos.PackageEvent{InstanceID: "inst-a", GroupNamespace: "loans", GroupID: "loan-a", PackageID: "pkg-a",
		Recipients: []pos.Recipient{{RecipientID: "r1", FirstName: "Alice", LastName: "A", Email: "alice@example.com", Role: pos.RoleBorrower}}})
	evB := pos.PackageEvent{InstanceID: "inst-b", GroupNamespace: "loans", GroupID: "loan-b", PackageID: "pkg-b",
		Recipients: []pos.Recipient{
			{RecipientID: "r1", FirstName: "Carol", LastName: "B", Email: "carol@example.com", Role: pos.RoleBorrower},
			{RecipientID: "r2", FirstName: "Bob", LastName: "B", Email: "Bob@Example.COM", Role: pos.RoleCoBorrower},
		}}
	_, b := e.createPackage(evB)

	alice, _ := e.signIn(a.Recipients[0].PortalURL)
	aliceUser, err := e.store.UserByEmail(ctx, "alice@example.com")
	require.NoError(t, err)
	foreign := e.apiURL + api.OpenURLPath("pkg-b", "r2")

	var refusal string
	refused := func(t *testing.T, u string) {
		t.Helper()
		resp, body := portalGet(t, alice, u, "")
		require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s: %s", u, body)
		require.Empty(t, resp.Header.Get("Location"))
		for _, id := range []string{"pkg-a", "pkg-b", "pkg-nope", "r1", "r2", "r9", aliceUser.ID} {
			require.NotContains(t, body, id, "the refusal echoes an id")
		}
		if refusal == "" {
			refusal = body
		}
		require.Equal(t, refusal, body, "every refusal is the same answer")
	}

	t.Run("a foreign recipient nobody opened is refused", func(t *testing.T) {
		refused(t, foreign)
		st := e.status(ctx, evB.Key())
		require.False(t, st.Recipients[1].Opened, "nothing was opened as r2")
	})
	t.Run("the invited recipient opens it afterwards", func(t *testing.T) {
		bob, _ := e.signIn(b.Recipients[1].PortalURL)
		resp, body := portalGet(t, bob, foreign, "")
		require.Equal(t, http.StatusFound, resp.StatusCode, body)
		require.True(t, strings.HasPrefix(resp.Header.Get("Location"), e.sandboxURL+"/deliveryroom/"))
		bobUser, err := e.store.UserByEmail(ctx, "bob@example.com")
		require.NoError(t, err)
		owner, err := e.store.BoundUser(ctx, evB.Key(), "r2")
		require.NoError(t, err)
		require.Equal(t, bobUser.ID, owner)
	})
	t.Run("foreign, unknown and bound recipients get one answer", func(t *testing.T) {
		refused(t, foreign) // now bound to Bob
		refused(t, e.apiURL+api.OpenURLPath("pkg-b", "r1"))
		refused(t, e.apiURL+api.OpenURLPath("pkg-b", "r9"))
		refused(t, e.apiURL+api.OpenURLPath("pkg-nope", "r1"))
		refused(t, e.apiURL+api.OpenURLPath("pkg-a", "r2"))
	})
	t.Run("refusals are logged without tokens", func(t *testing.T) {
		var seen bool
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, "refused") && strings.Contains(line, aliceUser.ID) && strings.Contains(line, "pkg-b") {
				seen = true
			}
		}
		require.True(t, seen, "a refused open is logged with the user and what was asked")
		for _, secret := range []string{inviteToken(t, a.Recipients[0].PortalURL), inviteToken(t, b.Recipients[1].PortalURL), e.portalCookie(alice)} {
			require.NotEmpty(t, secret)
			require.NotContains(t, logs.String(), secret)
		}
	})
	t.Run("attempts are rate-limited per user", func(t *testing.T) {
		var limited *http.Response
		for i := 0; i < 100 && limited == nil; i++ {
			resp, body := portalGet(t, alice, e.apiURL+api.OpenURLPath("pkg-guess-"+string(rune('a'+i%26)), "r1"), "")
			switch resp.StatusCode {
			case http.StatusNotFound:
				if refusal == "" {
					refusal = body
				}
				require.Equal(t, refusal, body)
			case http.StatusTooManyRequests:
				limited = resp
			default:
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
		}
		require.NotNil(t, limited, "100 refused opens in a row and never a 429")
		require.NotEmpty(t, limited.Header.Get("Retry-After"))
		// Alice's own package is limited too while she is; Bob is not.
		resp, _ := portalGet(t, alice, e.apiURL+api.OpenURLPath("pkg-a", "r1"), "")
		require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
		carol, _ := e.signIn(b.Recipients[0].PortalURL)
		resp, body := portalGet(t, carol, e.apiURL+api.OpenURLPath("pkg-b", "r1"), "")
		require.Equal(t, http.StatusFound, resp.StatusCode, body)
	})
}

// TestPortalSecretsAtRest: the portal database holds no usable token and is readable by its
// owner only; signing in swaps the invitation for a session of its own.
func TestPortalSecretsAtRest(t *testing.T) {
	logs := &testkit.Logs{}
	e, dsn := startPortal(t, logs)
	ev := pos.PackageEvent{InstanceID: "inst-s", GroupNamespace: "loans", GroupID: "loan-s", PackageID: "pkg-s",
		Recipients: []pos.Recipient{{RecipientID: "r1", FirstName: "Sam", LastName: "S", Email: "sam@example.com", Role: pos.RoleBorrower}}}
	first, answer := e.createPackage(ev)
	link := answer.Recipients[0].PortalURL
	invite := inviteToken(t, link)
	require.NotEmpty(t, invite)

	t.Run("a resent event answers the same link", func(t *testing.T) {
		again, _ := e.createPackage(ev)
		require.JSONEq(t, string(first.Partner.Body), string(again.Partner.Body))
	})
	b, resp := e.signIn(link)
	cookie := e.portalCookie(b)
	t.Run("the cookie is a fresh session, not the invitation", func(t *testing.T) {
		require.NotEmpty(t, cookie)
		require.NotEqual(t, invite, cookie)
		for _, c := range resp.Cookies() {
			if c.Name == api.CookieName {
				require.True(t, c.HttpOnly)
				require.Equal(t, http.SameSiteLaxMode, c.SameSite)
				require.Positive(t, c.MaxAge)
				require.Less(t, c.MaxAge, int((24 * time.Hour).Seconds()), "a session lasts hours, not the invitation's 30 days")
			}
		}
		resp, body := portalGet(t, b, e.apiURL+api.OpenURLPath("pkg-s", "r1"), "")
		require.Equal(t, http.StatusFound, resp.StatusCode, body)
		// A second sign-in with the same link is another session.
		b2, _ := e.signIn(link)
		require.NotEqual(t, cookie, e.portalCookie(b2))
	})
	t.Run("no usable token at rest", func(t *testing.T) {
		require.NoError(t, e.st.Portal.Close())
		files, err := filepath.Glob(dsn + "*")
		require.NoError(t, err)
		require.NotEmpty(t, files)
		for _, f := range files {
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			require.False(t, bytes.Contains(data, []byte(invite)), "the invitation token is in %s", filepath.Base(f))
			require.False(t, bytes.Contains(data, []byte(cookie)), "the session cookie is in %s", filepath.Base(f))
		}
	})
	t.Run("the database files are 0600", func(t *testing.T) {
		files, err := filepath.Glob(dsn + "*")
		require.NoError(t, err)
		for _, f := range files {
			st, err := os.Stat(f)
			require.NoError(t, err)
			require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), filepath.Base(f))
		}
	})
}

// TestPortalHome: a signed-in user without next lands on the list of their packages.
func TestPortalHome(t *testing.T) {
	e, _ := startPortal(t, &testkit.Logs{})
	ctx := ctxFor(t, time.Minute)
	for _, id := range []string{"pkg-h1", "pkg-h2"} {
		e.createPackage(pos.PackageEvent{InstanceID: "inst-h", GroupNamespace: "loans", GroupID: "loan-h", PackageID: id,
			Recipients: []pos.Recipient{{RecipientID: "r1", FirstName: "Hal", LastName: "H", Email: "hal@example.com", Role: pos.RoleBorrower}}})
	}
	e.createPackage(pos.PackageEvent{InstanceID: "inst-h", GroupNamespace: "loans", GroupID: "loan-h", PackageID: "pkg-other",
		Recipients: []pos.Recipient{{RecipientID: "r1", FirstName: "Ola", LastName: "O", Email: "ola@example.com", Role: pos.RoleBorrower}}})
	_, link, err := api.IssuePortalToken(ctx, e.store, "hal@example.com", e.apiURL)
	require.NoError(t, err)
	b, resp := e.signIn(link)
	require.Equal(t, "/portal/", resp.Header.Get("Location"))
	resp, page := portalGet(t, b, e.apiURL+"/portal/", "")
	require.Equal(t, http.StatusOK, resp.StatusCode, page)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/html")
	for _, id := range []string{"pkg-h1", "pkg-h2"} {
		require.Contains(t, page, `href="`+api.OpenURLPath(id, "r1")+`"`)
	}
	require.NotContains(t, page, "pkg-other")
	resp, _ = portalGet(t, portalBrowser(t), e.apiURL+"/portal/", "")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}
