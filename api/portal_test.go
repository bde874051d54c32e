package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/internal/testkit"
	"github.com/epcflow/epcflow/portal"
	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/starter"
	"github.com/epcflow/epcflow/workflows"
)

// fakePackages stands in for Temporal on the delivery routes.
type fakePackages struct {
	mu        sync.Mutex
	opened    []workflows.RecipientOpened
	signalErr error // what SignalPackageOpened answers, when set
}

func (f *fakePackages) StartPackage(context.Context, workflows.PackageInput) error { return nil }

func (f *fakePackages) SignalPackageOpened(_ context.Context, _ string, sig workflows.RecipientOpened) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.signalErr != nil {
		return f.signalErr
	}
	f.opened = append(f.opened, sig)
	return nil
}

// portalAPI is the API with the delivery routes over a real (in-memory SQLite) portal store,
// a fake Temporal and a fake POS Framework that creates every session it is asked for.
type portalAPI struct {
	h       http.Handler
	store   *portal.Store
	secret  *portal.Secret
	signer  *pos.Signer
	engine  *fakePackages
	logs    *testkit.Logs
	mu      sync.Mutex
	created []pos.CreateSessionRequest // what the POS Framework was asked
}

func newPortalAPI(t testing.TB, opts ...func(*Delivery)) *portalAPI {
	t.Helper()
	store, err := portal.Open(context.Background(), ":memory:")
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	signer, err := pos.NewSigner("", "integration-1", "key-1", "pos-secret")
	require.NoError(t, err)
	p := &portalAPI{store: store, secret: portal.RandomSecret(), signer: signer, engine: &fakePackages{}, logs: &testkit.Logs{}}
	dr := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req pos.CreateSessionRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		p.mu.Lock()
		p.created = append(p.created, req)
		n := len(p.created)
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"sessionId":"s%d","url":"https://dr.example/room/%d","expiresAt":%q}`, n, n, time.Now().Add(30*time.Second).Format(time.RFC3339))
	}))
	t.Cleanup(dr.Close)
	d := &Delivery{Verifier: signer.Verifier(), Portal: store, Engine: p.engine, PortalBaseURL: "https://portal.example",
		DeliveryRoom: &pos.DeliveryRoomClient{BaseURL: dr.URL, Signer: signer}, Secret: p.secret}
	for _, o := range opts {
		o(d)
	}
	p.h = directAPI(t, &fakeEngine{}, func(c *Config) {
		c.Delivery = d
		c.Logger = p.logs.JSON()
	})
	return p
}

// get serves a GET of target (a path, or a portal link whose path and query are taken) with
// the session cookie when given.
func (p *portalAPI) get(t testing.TB, target, session string) *httptest.ResponseRecorder {
	return p.serve(t, http.MethodGet, target, session)
}

func (p *portalAPI) serve(t testing.TB, method, target, session string) *httptest.ResponseRecorder {
	t.Helper()
	u, err := url.Parse(target)
	require.NoError(t, err)
	req := httptest.NewRequest(method, u.RequestURI(), nil)
	if session != "" {
		req.AddCookie(&http.Cookie{Name: CookieName, Value: session})
	}
	rec := httptest.NewRecorder()
	p.h.ServeHTTP(rec, req)
	return rec
}

// postPackage sends a signed Create Package Event and returns the answer's raw bytes and
// portal links by recipient.
func (p *portalAPI) postPackage(t testing.TB, ev pos.PackageEvent) ([]byte, map[string]string) {
	t.Helper()
	body, err := json.Marshal(ev)
	require.NoError(t, err)
	req := httptest.NewRequest(http.MethodPost, PackagesPath, bytes.NewReader(body))
	p.signer.Sign(req, body)
	rec := httptest.NewRecorder()
	p.h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	a, err := pos.ParsePackageAnswer(ev, rec.Body.Bytes())
	require.NoError(t, err)
	links := map[string]string{}
	for _, r := range a.Recipients {
		links[r.RecipientID] = r.PortalURL
	}
	return rec.Body.Bytes(), links
}

// signIn follows a link and returns the session cookie it set.
func (p *portalAPI) signIn(t testing.TB, link string) (*http.Cookie, *httptest.ResponseRecorder) {
	t.Helper()
	rec := p.get(t, link, "")
	require.Equal(t, http.StatusFound, rec.Code, rec.Body.String())
	for _, c := range rec.Result().Cookies() {
		if c.Name == CookieName {
			return c, rec
		}
	}
	t.Fatalf("sign-in set no %s cookie", CookieName)
	return nil, nil
}

func event(packageID string, recipients ...pos.Recipient) pos.PackageEvent {
	return pos.PackageEvent{InstanceID: "inst", GroupNamespace: "loans", GroupID: "loan-" + packageID, PackageID: packageID, Recipients: recipients}
}

func recipient(id, email string) pos.Recipient {
	return pos.Recipient{RecipientID: id, FirstName: "F", LastName: "L", Email: email, Role: pos.RoleBorrower}
}

func TestPortalSignInGivesASession(t *testing.T) {
	p := newPortalAPI(t, func(d *Delivery) { d.SessionTTL = 2 * time.Hour })
	raw, links := p.postPackage(t, event("pkg-1", recipient("r1", "ann@example.com")))
	token, err := url.Parse(links["r1"])
	require.NoError(t, err)
	invite := token.Query().Get("token")
	require.True(t, strings.HasPrefix(invite, "pi_"), invite)

	// No token at rest; a resend answers the same bytes.
	rec, err := p.store.PackageRecord(context.Background(), event("pkg-1").Key())
	require.NoError(t, err)
	require.NotContains(t, string(rec.Answer), invite)
	again, _ := p.postPackage(t, event("pkg-1", recipient("r1", "ann@example.com")))
	require.Equal(t, string(raw), string(again))

	ck, resp := p.signIn(t, links["r1"])
	require.Equal(t, OpenURLPath("pkg-1", "r1"), resp.Header().Get("Location"))
	require.True(t, strings.HasPrefix(ck.Value, "ps_"))
	require.NotEqual(t, invite, ck.Value)
	require.True(t, ck.HttpOnly)
	require.True(t, ck.Secure, "the portal is on https")
	require.Equal(t, http.SameSiteLaxMode, ck.SameSite)
	require.Equal(t, "/portal/", ck.Path)
	require.Equal(t, int((2 * time.Hour).Seconds()), ck.MaxAge)
	require.Equal(t, "no-store", resp.Header().Get("Cache-Control"))

	// The link signs in again (another session); the invitation token is no session.
	ck2, _ := p.signIn(t, links["r1"])
	require.NotEqual(t, ck.Value, ck2.Value)
	require.Equal(t, http.StatusUnauthorized, p.get(t, OpenURLPath("pkg-1", "r1"), invite).Code)
	require.Equal(t, http.StatusFound, p.get(t, OpenURLPath("pkg-1", "r1"), ck.Value).Code)

	// Signing out ends that session only; the cookie is cleared.
	out := p.serve(t, http.MethodPost, SignOutPath, ck.Value)
	require.Equal(t, http.StatusOK, out.Code)
	cleared := out.Result().Cookies()
	require.Len(t, cleared, 1)
	require.Negative(t, cleared[0].MaxAge)
	require.Equal(t, http.StatusUnauthorized, p.get(t, OpenURLPath("pkg-1", "r1"), ck.Value).Code)
	require.Equal(t, http.StatusFound, p.get(t, OpenURLPath("pkg-1", "r1"), ck2.Value).Code)

	// Revoked: every session ends and the link no longer signs in.
	_, _, err = p.store.RevokeUser(context.Background(), "ann@example.com")
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, p.get(t, OpenURLPath("pkg-1", "r1"), ck2.Value).Code)
	require.Equal(t, http.StatusUnauthorized, p.get(t, links["r1"], "").Code)
}

func TestPortalCookieOverHTTP(t *testing.T) {
	p := newPortalAPI(t, func(d *Delivery) { d.PortalBaseURL = "http://127.0.0.1:8080" })
	_, links := p.postPackage(t, event("pkg-1", recipient("r1", "ann@example.com")))
	ck, _ := p.signIn(t, links["r1"])
	require.False(t, ck.Secure, "a cookie marked Secure would never come back over http")
	require.Equal(t, int(DefaultSessionTTL.Seconds()), ck.MaxAge)
}

// TestPortalOpensOnlyForTheInvitedUser: whoever opens first, only the user the event named
// for a recipient gets its Delivery Room; every other open gets one answer that names nothing.
func TestPortalOpensOnlyForTheInvitedUser(t *testing.T) {
	p := newPortalAPI(t)
	_, a := p.postPackage(t, event("pkg-a", recipient("r1", "ann@example.com")))
	_, b := p.postPackage(t, event("pkg-b", recipient("r1", "ben@example.com"), recipient("r2", "Cat@Example.com")))
	ann, _ := p.signIn(t, a["r1"])
	cat, _ := p.signIn(t, b["r2"])

	var refusal string
	for _, path := range []string{
		OpenURLPath("pkg-b", "r2"), // another user's, nobody opened it yet
		OpenURLPath("pkg-b", "r1"),
		OpenURLPath("pkg-b", "r9"),   // not a recipient
		OpenURLPath("pkg-zzz", "r1"), // no such package
		OpenURLPath("pkg-a", "r2"),
	} {
		rec := p.get(t, path, ann.Value)
		require.Equal(t, http.StatusNotFound, rec.Code, path)
		if refusal == "" {
			refusal = rec.Body.String()
		}
		require.Equal(t, refusal, rec.Body.String(), path)
		require.Empty(t, rec.Header().Get("Location"))
	}
	for _, id := range []string{"pkg", "r1", "r2", "r9"} {
		require.NotContains(t, refusal, id)
	}
	require.Empty(t, p.created, "nothing reached the POS Framework")

	// Cat opens r2 (the e-mail matched whatever its case): bound to her, in the Delivery Room.
	rec := p.get(t, OpenURLPath("pkg-b", "r2"), cat.Value)
	require.Equal(t, http.StatusFound, rec.Code, rec.Body.String())
	require.Equal(t, "https://dr.example/room/1", rec.Header().Get("Location"))
	catUser, err := p.store.UserByEmail(context.Background(), "cat@example.com")
	require.NoError(t, err)
	require.Equal(t, catUser.ID, p.created[0].UserID)
	require.Equal(t, []workflows.RecipientOpened{{RecipientID: "r2", UserID: catUser.ID}}, p.engine.opened)

	// Bound now: Ann still gets the same answer.
	rec = p.get(t, OpenURLPath("pkg-b", "r2"), ann.Value)
	require.Equal(t, http.StatusNotFound, rec.Code)
	require.Equal(t, refusal, rec.Body.String())
	// Ann's own package opens.
	require.Equal(t, http.StatusFound, p.get(t, OpenURLPath("pkg-a", "r1"), ann.Value).Code)
}

// TestPortalOpenWaitsForTheWorkflow: an open the package workflow cannot be told of now
// (Temporal restarting) is not let through, or the package would wait for it until it
// expires; the person's next try goes in.
func TestPortalOpenWaitsForTheWorkflow(t *testing.T) {
	p := newPortalAPI(t)
	_, links := p.postPackage(t, event("pkg-1", recipient("r1", "ann@example.com")))
	ck, _ := p.signIn(t, links["r1"])

	p.engine.mu.Lock()
	p.engine.signalErr = fmt.Errorf("%w: frontend restarting", starter.ErrUnavailable)
	p.engine.mu.Unlock()
	rec := p.get(t, OpenURLPath("pkg-1", "r1"), ck.Value)
	require.Equal(t, http.StatusServiceUnavailable, rec.Code, rec.Body.String())
	require.Empty(t, rec.Header().Get("Location"), "the session's URL is not shown")
	require.NotEmpty(t, rec.Header().Get("Retry-After"))

	p.engine.mu.Lock()
	p.engine.signalErr = nil
	p.engine.mu.Unlock()
	rec = p.get(t, OpenURLPath("pkg-1", "r1"), ck.Value)
	require.Equal(t, http.StatusFound, rec.Code, rec.Body.String())
	require.Len(t, p.engine.opened, 1)
}

func TestPortalRefusalsAreLimitedAndLogged(t *testing.T) {
	p := newPortalAPI(t, func(d *Delivery) { d.RefusedOpens = RateLimit{Burst: 3, Every: time.Hour} })
	_, a := p.postPackage(t, event("pkg-a", recipient("r1", "ann@example.com")))
	_, b := p.postPackage(t, event("pkg-b", recipient("r1", "ben@example.com")))
	ann, _ := p.signIn(t, a["r1"])
	ben, _ := p.signIn(t, b["r1"])
	for i := range 3 {
		require.Equal(t, http.StatusNotFound, p.get(t, OpenURLPath(fmt.Sprintf("guess-%d", i), "r1"), ann.Value).Code)
	}
	rec := p.get(t, OpenURLPath("guess-4", "r1"), ann.Value)
	require.Equal(t, http.StatusTooManyRequests, rec.Code)
	require.Equal(t, CodeTooManyRequests, decodeErrorBody(t, rec.Code, rec.Body.Bytes()).Code)
	require.Equal(t, "3601", rec.Header().Get("Retry-After"))
	require.Equal(t, http.StatusTooManyRequests, p.get(t, OpenURLPath("pkg-a", "r1"), ann.Value).Code, "limited is limited")
	require.Equal(t, http.StatusFound, p.get(t, OpenURLPath("pkg-b", "r1"), ben.Value).Code, "per user")

	annUser, err := p.store.UserByEmail(context.Background(), "ann@example.com")
	require.NoError(t, err)
	refused, limited := 0, 0
	for _, l := range p.logs.Lines(t) {
		switch l["msg"] {
		case "portal open refused":
			refused++
			require.Equal(t, annUser.ID, l["user"])
			require.NotEmpty(t, l["reason"])
			require.Contains(t, l["package"], "guess-")
		case "portal open refused: too many refused opens":
			limited++
		}
	}
	require.Equal(t, 3, refused)
	require.Equal(t, 2, limited)
	for _, secret := range []string{ann.Value, ben.Value, tokenOf(t, a["r1"]), tokenOf(t, b["r1"])} {
		require.NotContains(t, p.logs.String(), secret)
	}
}

func tokenOf(t testing.TB, link string) string {
	u, err := url.Parse(link)
	require.NoError(t, err)
	return u.Query().Get("token")
}

func TestUserLimiterForgets(t *testing.T) {
	now := time.Unix(0, 0)
	l := newUserLimiter(RateLimit{Burst: 2, Every: time.Minute})
	l.now = func() time.Time { return now }
	l.refuse("u")
	l.refuse("u")
	wait, limited := l.limited("u")
	require.True(t, limited)
	require.Equal(t, time.Minute, wait)
	now = now.Add(time.Minute)
	_, limited = l.limited("u")
	require.False(t, limited, "one refusal back after Every")
	for i := range maxLimitedUsers + 10 {
		l.refuse(fmt.Sprint("user-", i))
	}
	require.LessOrEqual(t, len(l.users), maxLimitedUsers)
}

func TestPortalHomeListsThePackages(t *testing.T) {
	p := newPortalAPI(t)
	_, a := p.postPackage(t, event("pkg-<1>", recipient("r1", "ann@example.com")))
	p.postPackage(t, event("pkg-2", recipient("r1", "ben@example.com"), recipient("r2", "ann@example.com")))
	p.postPackage(t, event("pkg-3", recipient("r1", "ben@example.com")))
	ck, _ := p.signIn(t, a["r1"])
	require.Equal(t, http.StatusFound, p.get(t, OpenURLPath("pkg-<1>", "r1"), ck.Value).Code)

	rec := p.get(t, HomePath, ck.Value)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	page := rec.Body.String()
	require.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"))
	require.Contains(t, rec.Header().Get("Content-Security-Policy"), "default-src 'none'")
	require.Contains(t, page, "ann@example.com")
	require.Contains(t, page, "pkg-&lt;1&gt;", "escaped")
	require.NotContains(t, page, "pkg-<1>")
	require.Contains(t, page, `href="/portal/packages/pkg-%3C1%3E/recipients/r1/open">Open again<`)
	require.Contains(t, page, `href="/portal/packages/pkg-2/recipients/r2/open">Open<`)
	require.NotContains(t, page, "pkg-3")

	_, links := p.postPackage(t, event("pkg-9", recipient("r1", "dan@example.com")))
	dan, _ := p.signIn(t, links["r1"])
	_, _, err := p.store.RevokeUser(context.Background(), "dan@example.com")
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, p.get(t, HomePath, dan.Value).Code)
}
