package api

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Who may use the console: sessions, CSRF, and what an attacker meets.

func TestConsoleNeedsASession(t *testing.T) {
	a := newConsoleAPI(t)
	b := newBrowser(t)
	for _, path := range []string{ConsolePath, ConsolePath + "?view=finished", ConsolePath + "sessions", ConsolePath + "orders/" + txID} {
		p := a.get(t, b, path)
		require.Equal(t, http.StatusSeeOther, p.status, path)
		require.Equal(t, ConsolePath+"signin?next="+url.QueryEscape(path), p.header.Get("Location"), path)
	}
	for _, action := range []string{"schedule", "progress"} {
		p := a.post(t, b, ConsolePath+"orders/"+txID+"/"+action, url.Values{"csrf": {"x"}, "text": {"hi"}, "at": {"2030-01-01T10:00"}})
		require.Equal(t, http.StatusUnauthorized, p.status, action)
		require.Contains(t, p.body, "Your session has ended")
	}
	p := a.send(t, b, http.MethodPost, ConsolePath+"orders/"+txID+"/deliver", strings.NewReader("x"),
		map[string]string{CSRFHeader: "x", "Content-Type": "multipart/form-data; boundary=x"})
	require.Equal(t, http.StatusUnauthorized, p.status)
	require.Equal(t, CodeUnauthorized, decodeErrorBody(t, p.status, []byte(p.body)).Code, "the script gets the API's error body")
	require.Zero(t, a.eng.calls(), "nothing reached the workflows")
	// The console's own files are public: they hold nothing of anyone's.
	require.Equal(t, http.StatusOK, a.get(t, b, ConsolePath+"static/console.css").status)
}

func TestConsoleSignIn(t *testing.T) {
	a := newConsoleAPI(t)
	b := newBrowser(t)

	form := a.get(t, b, ConsolePath+"signin?next="+url.QueryEscape(ConsolePath+"orders/"+txID))
	require.Equal(t, http.StatusOK, form.status)
	require.Contains(t, form.body, `name="token"`)
	require.Contains(t, form.body, `value="/console/orders/`+txID+`"`, "next survives the form")

	// A wrong token: refused on the form, no session.
	p := a.post(t, b, ConsolePath+"signin", url.Values{"csrf": {csrf(t, form)}, "name": {"Ada"}, "token": {"wrong"}})
	require.Equal(t, http.StatusUnauthorized, p.status)
	require.Contains(t, p.body, "This is not the operator token.")
	require.Contains(t, p.body, `value="Ada"`, "the name is kept")
	require.Empty(t, a.sessionCookie(b))

	// A name that cannot be recorded.
	for _, name := range []string{"", "   ", "bad\x01name", strings.Repeat("n", 201)} {
		p = a.post(t, b, ConsolePath+"signin", url.Values{"csrf": {csrf(t, p)}, "name": {name}, "token": {consoleToken}})
		require.Equal(t, http.StatusBadRequest, p.status, "%q", name)
		require.Contains(t, p.body, "Your name ", "%q", name)
	}

	// Without the form's own token (another site's form): refused.
	p = a.post(t, b, ConsolePath+"signin", url.Values{"name": {"Ada"}, "token": {consoleToken}})
	require.Equal(t, http.StatusForbidden, p.status)
	require.Contains(t, p.body, "The sign-in form had expired")
	require.Empty(t, a.sessionCookie(b))

	// The right token: a session cookie, and on to next.
	p = a.post(t, b, ConsolePath+"signin", url.Values{"csrf": {csrf(t, p)}, "name": {"  Ada Lovelace "}, "token": {consoleToken}, "next": {ConsolePath + "orders/" + txID}})
	require.Equal(t, http.StatusSeeOther, p.status, p.body)
	require.Equal(t, ConsolePath+"orders/"+txID, p.header.Get("Location"))
	var session *http.Cookie
	for _, c := range (&http.Response{Header: p.header}).Cookies() {
		if c.Name == consoleCookie {
			session = c
		}
	}
	require.NotNil(t, session)
	require.True(t, session.HttpOnly)
	require.Equal(t, http.SameSiteStrictMode, session.SameSite)
	require.Equal(t, ConsolePath, session.Path)
	require.False(t, session.Secure, "served over http here")
	require.Equal(t, int(DefaultConsoleSessionTTL/time.Second), session.MaxAge)
	require.NotContains(t, session.Value, consoleToken, "the cookie carries no operator token")
	home := a.get(t, b, ConsolePath)
	require.Equal(t, http.StatusOK, home.status)
	require.Contains(t, home.body, "Signed in as <strong>Ada Lovelace</strong>")

	// Open redirects are not: next stays under /console/.
	for _, next := range []string{"https://evil.example/", "//evil.example/console/", "/portal/", "/console/../v1/x"} {
		b2 := newBrowser(t)
		f := a.get(t, b2, ConsolePath+"signin")
		p := a.post(t, b2, ConsolePath+"signin", url.Values{"csrf": {csrf(t, f)}, "name": {"Ada"}, "token": {consoleToken}, "next": {next}})
		require.Equal(t, ConsolePath, p.header.Get("Location"), next)
	}
}

func TestConsoleSignOut(t *testing.T) {
	a := newConsoleAPI(t)
	b := a.signedIn(t, "Ada")
	home := a.get(t, b, ConsolePath)
	// Signing out is a form with the CSRF token, like every other.
	require.Equal(t, http.StatusForbidden, a.post(t, b, ConsolePath+"signout", url.Values{}).status)
	p := a.post(t, b, ConsolePath+"signout", url.Values{"csrf": {csrf(t, home)}})
	require.Equal(t, http.StatusSeeOther, p.status)
	require.Equal(t, ConsolePath+"signin?out=1", p.header.Get("Location"))
	require.Empty(t, a.sessionCookie(b))
	require.Equal(t, http.StatusSeeOther, a.get(t, b, ConsolePath).status)
	require.Contains(t, a.get(t, b, ConsolePath+"signin?out=1").body, "You are signed out.")
}

func TestConsoleSessionsCannotBeForged(t *testing.T) {
	a := newConsoleAPI(t)
	b := a.signedIn(t, "Ada")
	value := a.sessionCookie(b)
	payload, mac, _ := strings.Cut(value, ".")
	raw, err := b64.DecodeString(payload)
	require.NoError(t, err)

	keys := newSessionKeys(consoleToken, "")
	other := newSessionKeys("another-token", "")
	now := time.Now()
	for name, v := range map[string]string{
		"another actor":       b64.EncodeToString([]byte(strings.Replace(string(raw), b64.EncodeToString([]byte("Ada")), b64.EncodeToString([]byte("Mallory")), 1))) + "." + mac,
		"no MAC":              payload,
		"garbage":             "x.y",
		"expired":             keys.encode(consoleSess{ID: "s", Actor: "Ada", Mode: modeToken, Expires: now.Add(-time.Second)}),
		"under another key":   other.encode(consoleSess{ID: "s", Actor: "Ada", Mode: modeToken, Expires: now.Add(time.Hour)}),
		"of the open console": keys.encode(consoleSess{ID: "s", Actor: "Ada", Mode: modeOpen, Expires: now.Add(time.Hour)}),
	} {
		c := newBrowser(t)
		u, _ := url.Parse(a.srv.URL + ConsolePath)
		c.Jar.SetCookies(u, []*http.Cookie{{Name: consoleCookie, Value: v, Path: ConsolePath}})
		require.Equal(t, http.StatusSeeOther, a.get(t, c, ConsolePath).status, name)
	}
	// A session signed with this token, made elsewhere, is as good (another API replica's).
	c := newBrowser(t)
	u, _ := url.Parse(a.srv.URL + ConsolePath)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: consoleCookie, Path: ConsolePath,
		Value: keys.encode(consoleSess{ID: "s", Actor: "Grace", Mode: modeToken, Expires: now.Add(time.Hour)})}})
	require.Contains(t, a.get(t, c, ConsolePath).body, "Signed in as <strong>Grace</strong>")
}

func TestConsoleCSRF(t *testing.T) {
	a := newConsoleAPI(t)
	ada := a.signedIn(t, "Ada")
	grace := a.signedIn(t, "Grace")
	order := ConsolePath + "orders/" + txID
	token := csrf(t, a.get(t, ada, order))
	graceToken := csrf(t, a.get(t, grace, order))
	require.NotEqual(t, token, graceToken)
	note := url.Values{"text": {"Appraiser on site"}}

	for name, v := range map[string]string{"none": "", "wrong": "AAAA", "another session's": graceToken, "not base64": "%%%"} {
		form := url.Values{"text": note["text"]}
		if v != "" {
			form.Set("csrf", v)
		}
		p := a.post(t, ada, order+"/progress", form)
		require.Equal(t, http.StatusForbidden, p.status, name)
		require.Contains(t, p.body, "security token is missing or stale", name)
	}
	// The script's upload carries it in a header; without it, refused before the body is read.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("appraisedValue", "1")
	_ = mw.Close()
	p := a.send(t, ada, http.MethodPost, order+"/deliver", bytes.NewReader(body.Bytes()),
		map[string]string{"Content-Type": mw.FormDataContentType(), "Accept": "application/json"})
	require.Equal(t, http.StatusForbidden, p.status)
	require.Equal(t, CodeForbidden, decodeErrorBody(t, p.status, []byte(p.body)).Code)
	acted := func() int { r := a.eng.recorded(); return len(r.schedules) + len(r.delivers) + len(r.progresses) }
	require.Zero(t, acted(), "no action reached the workflows")

	// From another site, even with a valid token: refused.
	cross := a.send(t, ada, http.MethodPost, order+"/progress", strings.NewReader(url.Values{"csrf": {token}, "text": {"x"}}.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
	require.Equal(t, http.StatusForbidden, cross.status)
	require.Contains(t, cross.body, "came from another site")
	require.Zero(t, acted())

	note.Set("csrf", token)
	require.Equal(t, http.StatusSeeOther, a.post(t, ada, order+"/progress", note).status)
	require.Len(t, a.eng.recorded().progresses, 1)
}

// loadedURL finds what a page loads (scripts, styles, icons, images), as opposed to links.
var loadedURL = regexp.MustCompile(`(?:src="|<link [^>]*href=")([^"]*)"`)

func TestConsoleSecurityHeaders(t *testing.T) {
	a := newConsoleAPI(t)
	b := a.signedIn(t, "Ada")
	for _, path := range []string{ConsolePath, ConsolePath + "signin", ConsolePath + "orders/" + txID, ConsolePath + "sessions"} {
		p := a.get(t, b, path)
		require.Equal(t, consoleCSP, p.header.Get("Content-Security-Policy"), path)
		require.Contains(t, p.header.Get("Content-Security-Policy"), "frame-ancestors 'none'")
		require.NotContains(t, p.header.Get("Content-Security-Policy"), "unsafe-inline")
		require.Equal(t, "nosniff", p.header.Get("X-Content-Type-Options"), path)
		require.Equal(t, "DENY", p.header.Get("X-Frame-Options"), path)
		require.Equal(t, "no-store", p.header.Get("Cache-Control"), path)
		require.NotContains(t, p.body, "<script>", "no inline script")
		require.NotContains(t, p.body, " style=", "no inline style")
		for _, m := range loadedURL.FindAllStringSubmatch(p.body, -1) {
			require.True(t, strings.HasPrefix(m[1], ConsolePath+"static/"), "%s loads %s: only the console's own files", path, m[1])
		}
	}
}

func TestConsoleSignInLimit(t *testing.T) {
	a := newConsoleAPI(t, func(c *Config) { c.Console.SignIns = RateLimit{Burst: 3, Every: time.Hour} })
	b := newBrowser(t)
	var p page
	for range 3 {
		p = a.signIn(t, b, "Mallory", "guess")
		require.Equal(t, http.StatusUnauthorized, p.status)
	}
	p = a.signIn(t, b, "Mallory", consoleToken)
	require.Equal(t, http.StatusTooManyRequests, p.status, "even the right token, once over the limit")
	require.NotEmpty(t, p.header.Get("Retry-After"))
	require.Empty(t, a.sessionCookie(b))
}

func TestConsoleOpenAndSecure(t *testing.T) {
	// No operator token (development): the form asks for a name only.
	a := newConsoleAPI(t, func(c *Config) { c.OperatorToken = ""; c.Console.PublicURL = "https://epcflow.example" })
	b := newBrowser(t)
	form := a.get(t, b, ConsolePath+"signin")
	require.NotContains(t, form.body, `name="token"`)
	require.Contains(t, form.body, "No operator token is configured")
	p := a.post(t, b, ConsolePath+"signin", url.Values{"csrf": {csrf(t, form)}, "name": {"Ada"}})
	require.Equal(t, http.StatusSeeOther, p.status)
	require.Contains(t, p.header.Get("Set-Cookie"), "Secure", "served over https: Secure cookies")
}

func TestConsoleSingleSignOnProxy(t *testing.T) {
	a := newConsoleAPI(t, func(c *Config) {
		c.Console.ProxyUserHeader, c.Console.ProxySecret = "X-Forwarded-User", "proxy-secret-123"
	})
	b := newBrowser(t)
	via := func(path, user, secret string) page {
		return a.send(t, b, http.MethodGet, path, nil, map[string]string{"X-Forwarded-User": user, ConsoleProxySecretHeader: secret})
	}
	// Around the proxy (no secret, or a wrong one): refused, whatever the user header says.
	require.Equal(t, http.StatusUnauthorized, via(ConsolePath+"signin", "ada@example.com", "").status)
	require.Equal(t, http.StatusUnauthorized, via(ConsolePath+"signin", "ada@example.com", "guess").status)
	require.Empty(t, a.sessionCookie(b))
	// Through it: signed in as the user it names, no form.
	p := via(ConsolePath+"signin?next=/console/sessions", "ada@example.com", "proxy-secret-123")
	require.Equal(t, http.StatusSeeOther, p.status)
	require.Equal(t, ConsolePath+"sessions", p.header.Get("Location"))
	require.Contains(t, via(ConsolePath, "ada@example.com", "proxy-secret-123").body, "Signed in as <strong>ada@example.com</strong>")
	// The session holds only while the proxy names the same user.
	require.Equal(t, http.StatusSeeOther, via(ConsolePath, "grace@example.com", "proxy-secret-123").status)
	require.Equal(t, http.StatusSeeOther, via(ConsolePath, "ada@example.com", "").status)
	// The token form is not used.
	require.Equal(t, http.StatusNotFound, a.post(t, b, ConsolePath+"signin", url.Values{"name": {"x"}, "token": {consoleToken}}).status)
}
