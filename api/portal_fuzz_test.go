package api

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzPortalSignIn sends arbitrary sign-in parameters (token, next) to GET /portal/signin
// through the real router and a real portal store holding one invitation and one sign-in
// link. Never a panic nor a 5xx; every refusal is the one error body and sets no cookie; a
// redirect only for a real credential to a safe next, with a fresh session cookie.
func FuzzPortalSignIn(f *testing.F) {
	p := newPortalAPI(f)
	_, links := p.postPackage(f, event("pkg-f", recipient("r1", "ann@example.com")))
	invite := tokenOf(f, links["r1"])
	_, link, err := IssuePortalToken(f.Context(), p.store, "ann@example.com", "https://portal.example")
	if err != nil {
		f.Fatal(err)
	}
	signIn := tokenOf(f, link)
	valid := map[string]bool{invite: true, signIn: true}
	for _, s := range [][2]string{
		{invite, ""}, {invite, OpenURLPath("pkg-f", "r1")}, {signIn, "/portal/"}, {invite, "https://evil.example/portal/"},
		{invite, "//evil.example/portal/"}, {invite, "/portal/../v1"}, {invite, "/portal/%2e%2e/x"}, {invite, "/portal/\\\\x"},
		{invite[:len(invite)-2], ""}, {invite + "=", ""}, {"pi_" + strings.Repeat("0", 24) + ".", ""}, {"pi_", ""}, {"pt_", ""},
		{"ps_x", ""}, {"", ""}, {strings.Repeat("pi_", 2000), ""}, {"pi_é.é", "/portal/é"}, {"\x00", "/portal/\x00"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, token, next string) {
		q := url.Values{}
		q.Set("token", token)
		if next != "" {
			q.Set("next", next)
		}
		rec := p.get(t, SignInPath+"?"+q.Encode(), "")
		cookies := rec.Result().Cookies()
		if rec.Code >= 400 {
			decodeErrorBody(t, rec.Code, rec.Body.Bytes())
			if len(cookies) > 0 {
				t.Fatalf("refused (%d) and set a cookie", rec.Code)
			}
		}
		switch rec.Code {
		case http.StatusFound:
			want := next
			if want == "" {
				want = HomePath
			}
			if !valid[token] || !safeNext(next) && next != "" || rec.Header().Get("Location") != want {
				t.Fatalf("signed in with token %q, next %q → %q", token, next, rec.Header().Get("Location"))
			}
			if len(cookies) != 1 || !strings.HasPrefix(cookies[0].Value, "ps_") || !cookies[0].HttpOnly || !cookies[0].Secure ||
				cookies[0].SameSite != http.SameSiteLaxMode || cookies[0].Value == token {
				t.Fatalf("sign-in cookie %+v", cookies)
			}
		case http.StatusBadRequest, http.StatusUnauthorized:
			if valid[token] && safeNext(next) {
				t.Fatalf("a real link to %q refused: %s", next, rec.Body)
			}
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}

// FuzzPortalOpen sends arbitrary cookies, package ids and recipient ids to the open route:
// only the invited user's session on their own recipient reaches the Delivery Room; a bad
// cookie is 401; every other open the one 404 (or 429 once the user has had too many).
func FuzzPortalOpen(f *testing.F) {
	p := newPortalAPI(f, func(d *Delivery) { d.RefusedOpens = RateLimit{Burst: 1 << 20, Every: time.Millisecond} })
	_, links := p.postPackage(f, event("pkg-f", recipient("r1", "ann@example.com"), recipient("r2", "ben@example.com")))
	ann, _ := p.signIn(f, links["r1"])
	ben, _ := p.signIn(f, links["r2"])
	refusal := p.get(f, OpenURLPath("pkg-none", "r1"), ann.Value).Body.String()
	for _, s := range [][3]string{
		{ann.Value, "pkg-f", "r1"}, {ann.Value, "pkg-f", "r2"}, {ben.Value, "pkg-f", "r2"}, {ann.Value, "pkg-x", "r1"},
		{ann.Value + "x", "pkg-f", "r1"}, {tokenOf(f, links["r1"]), "pkg-f", "r1"}, {"", "pkg-f", "r1"}, {"ps_", "pkg-f", "r1"},
		{"\"" + ann.Value + "\"", "pkg-f", "r1"}, {ann.Value + "; " + CookieName + "=" + ben.Value, "pkg-f", "r2"},
		{ann.Value, "pkg-f%2F..", "r1"}, {ann.Value, strings.Repeat("é", 300), "r1"}, {ann.Value, "pkg-f", "r1\x00"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	allowed := map[[2]string]string{{ann.Value, "r1"}: "pkg-f", {ben.Value, "r2"}: "pkg-f"}
	f.Fuzz(func(t *testing.T, cookie, packageID, recipientID string) {
		req := httptest.NewRequest(http.MethodGet, OpenURLPath(packageID, recipientID), nil)
		req.Header.Set("Cookie", CookieName+"="+cookie)
		rec := httptest.NewRecorder()
		p.h.ServeHTTP(rec, req)
		if rec.Code >= 400 {
			decodeErrorBody(t, rec.Code, rec.Body.Bytes())
		}
		seen := "" // the session the server reads, as net/http parses the header
		if ck, err := req.Cookie(CookieName); err == nil {
			seen = ck.Value
		}
		mine := allowed[[2]string{seen, recipientID}] == packageID && packageID != ""
		switch rec.Code {
		case http.StatusFound:
			if !mine || !strings.HasPrefix(rec.Header().Get("Location"), "https://dr.example/room/") {
				t.Fatalf("cookie %q opened %q/%q → %q", cookie, packageID, recipientID, rec.Header().Get("Location"))
			}
		case http.StatusNotFound:
			if mine {
				t.Fatalf("the invited user was refused: %s", rec.Body)
			}
			// The router's own 404 (an id that is no path segment) or the one refusal.
			if rec.Body.String() != refusal && !strings.Contains(rec.Body.String(), "no such endpoint") {
				t.Fatalf("a refusal that is not the one answer: %s", rec.Body)
			}
		case http.StatusUnauthorized, http.StatusTooManyRequests:
			if mine {
				t.Fatalf("the invited user was refused (%d): %s", rec.Code, rec.Body)
			}
		case http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusBadRequest:
			// The router cleaning an odd path; nothing was opened.
			if rec.Code != http.StatusBadRequest && strings.HasPrefix(rec.Header().Get("Location"), "https://dr.example/") {
				t.Fatalf("redirect into the Delivery Room by the router")
			}
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}
