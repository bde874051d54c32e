package api

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// Signing in to the console. A session is a cookie that carries who is acting and until
// when, under an HMAC whose key derives from the operator token (or the proxy secret): every
// API replica accepts it, changing the token ends every session, and the cookie itself holds
// no token. Each form carries a CSRF token derived from the session, checked in constant time;
// the cookies are HttpOnly and SameSite=Strict, Secure over https.

// Names of the console's cookies, headers and fields.
const (
	consoleCookie       = "epcflow_console"
	consoleSignInCookie = "epcflow_console_signin"
	// CSRFHeader carries the CSRF token on the console's script requests.
	CSRFHeader = "X-CSRF-Token"
	csrfField  = "csrf"
	// ConsoleProxySecretHeader carries Console.ProxySecret from the authenticating proxy.
	ConsoleProxySecretHeader = "X-Epcflow-Proxy-Secret"
	keyConsoleSession        = "console.session"
	signInFormTTL            = 30 * time.Minute
	maxConsoleFormBytes      = 64 << 10
)

// How operators sign in.
const (
	modeToken = "token" // the operator token and a name
	modeOpen  = "open"  // a name only: no operator token is configured (development)
	modeProxy = "proxy" // an authenticating proxy names the user
)

// consoleSess is a signed-in operator.
type consoleSess struct {
	ID, Actor, Mode string
	Expires         time.Time
}

// sessionKeys MAC the console's sessions and CSRF tokens.
type sessionKeys struct{ mac []byte }

func newSessionKeys(token, proxySecret string) sessionKeys {
	if token == "" && proxySecret == "" {
		// Open console: sessions live as long as this process.
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		return sessionKeys{mac: k}
	}
	m := hmac.New(sha256.New, []byte(token+"\x00"+proxySecret))
	m.Write([]byte("epcflow console sessions v1"))
	return sessionKeys{mac: m.Sum(nil)}
}

func (k sessionKeys) sum(purpose, data string) []byte {
	m := hmac.New(sha256.New, k.mac)
	m.Write([]byte(purpose + "\x00" + data))
	return m.Sum(nil)
}

var b64 = base64.RawURLEncoding

// encode is the cookie value of s: the payload and its MAC.
func (k sessionKeys) encode(s consoleSess) string {
	payload := s.ID + "|" + strconv.FormatInt(s.Expires.Unix(), 10) + "|" + s.Mode + "|" + b64.EncodeToString([]byte(s.Actor))
	return b64.EncodeToString([]byte(payload)) + "." + b64.EncodeToString(k.sum("session", payload))
}

// decode checks a cookie value: its MAC, its form, its expiry and its mode.
func (k sessionKeys) decode(v, mode string, now time.Time) (consoleSess, bool) {
	p, m, ok := strings.Cut(v, ".")
	if !ok || len(v) > 4096 {
		return consoleSess{}, false
	}
	payload, err1 := b64.DecodeString(p)
	mac, err2 := b64.DecodeString(m)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, k.sum("session", string(payload))) {
		return consoleSess{}, false
	}
	f := strings.Split(string(payload), "|")
	if len(f) != 4 {
		return consoleSess{}, false
	}
	exp, err := strconv.ParseInt(f[1], 10, 64)
	actor, err2 := b64.DecodeString(f[3])
	if err != nil || err2 != nil || f[2] != mode || !now.Before(time.Unix(exp, 0)) {
		return consoleSess{}, false
	}
	return consoleSess{ID: f[0], Actor: string(actor), Mode: f[2], Expires: time.Unix(exp, 0)}, true
}

// csrf is the CSRF token of a session.
func (k sessionKeys) csrf(s consoleSess) string { return b64.EncodeToString(k.sum("csrf", s.ID)) }

// checkCSRF compares a request's CSRF token with the session's in constant time.
func (k sessionKeys) checkCSRF(s consoleSess, got string) bool {
	want := k.sum("csrf", s.ID)
	have, err := b64.DecodeString(got)
	return err == nil && hmac.Equal(want, have)
}

func randomID() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return b64.EncodeToString(b)
}

func (h *console) mode() string {
	switch {
	case h.cfg.ProxyUserHeader != "":
		return modeProxy
	case h.srv.cfg.OperatorToken == "":
		return modeOpen
	}
	return modeToken
}

// secure reports whether cookies must be Secure: the console is served over https.
func (h *console) secure(c *gin.Context) bool {
	return c.Request.TLS != nil || strings.HasPrefix(h.cfg.PublicURL, "https://")
}

func (h *console) setCookie(c *gin.Context, name, value string, maxAge int) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: name, Value: value, Path: ConsolePath, MaxAge: maxAge,
		HttpOnly: true, Secure: h.secure(c), SameSite: http.SameSiteStrictMode,
	})
}

// consoleSession is the request's signed-in operator (set by requireSession).
func consoleSession(c *gin.Context) (consoleSess, bool) {
	v, ok := c.Get(keyConsoleSession)
	if !ok {
		return consoleSess{}, false
	}
	s, ok := v.(consoleSess)
	return s, ok
}

// session reads and checks the request's session cookie; in proxy mode the proxy must still
// name the same user.
func (h *console) session(c *gin.Context) (consoleSess, bool) {
	ck, err := c.Request.Cookie(consoleCookie)
	if err != nil {
		return consoleSess{}, false
	}
	s, ok := h.keys.decode(ck.Value, h.mode(), time.Now())
	if !ok {
		return consoleSess{}, false
	}
	if h.mode() == modeProxy {
		user, ok := h.proxyUser(c)
		if !ok || user != s.Actor {
			return consoleSess{}, false
		}
	}
	return s, true
}

// proxyUser is the user the authenticating proxy names, if the request carries its secret.
func (h *console) proxyUser(c *gin.Context) (string, bool) {
	want := sha256.Sum256([]byte(h.cfg.ProxySecret))
	have := sha256.Sum256([]byte(c.GetHeader(ConsoleProxySecretHeader)))
	if subtle.ConstantTimeCompare(want[:], have[:]) != 1 {
		return "", false
	}
	name, msg := checkActor(c.GetHeader(h.cfg.ProxyUserHeader))
	return name, msg == ""
}

// requireSession lets signed-in operators through. Anyone else is sent to sign in (a page)
// or told 401 (a form post, a script request).
func (h *console) requireSession(c *gin.Context) {
	s, ok := h.session(c)
	if ok {
		c.Set(keyConsoleSession, s)
		c.Set(keyLogger, LoggerFrom(c).With("actor", s.Actor))
		c.Next()
		return
	}
	switch {
	case wantsJSON(c):
		abort(c, http.StatusUnauthorized, CodeUnauthorized, "your console session has ended: sign in again")
	case c.Request.Method == http.MethodGet:
		next := c.Request.URL.RequestURI()
		if !safePathUnder(next, ConsolePath) {
			next = ConsolePath
		}
		c.Redirect(http.StatusSeeOther, ConsolePath+"signin?next="+url.QueryEscape(next))
		c.Abort()
	default:
		h.errorPage(c, http.StatusUnauthorized, "Your session has ended: sign in again, then repeat what you were doing.")
	}
}

// wantsJSON: a request of the console's script, answered with the API's error body.
func wantsJSON(c *gin.Context) bool {
	return c.GetHeader(CSRFHeader) != "" || strings.Contains(c.GetHeader("Accept"), "application/json")
}

// requireCSRF checks the CSRF token of a signed-in operator's post: in CSRFHeader (script
// requests, e.g. the report's multipart upload) or in the form's csrf field.
func (h *console) requireCSRF(c *gin.Context) {
	s, _ := consoleSession(c)
	got := c.GetHeader(CSRFHeader)
	if got == "" && isURLEncodedForm(c) {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxConsoleFormBytes)
		got = c.PostForm(csrfField)
	}
	if h.keys.checkCSRF(s, got) {
		c.Next()
		return
	}
	h.forbid(c, "CSRF token missing or wrong", "the form's security token is missing or stale: reload the page and try again",
		"This form's security token is missing or stale: go back, reload the page and try again.")
}

// forbid answers 403: the API's error body to the console's script, a page to a form; why
// goes to the log.
func (h *console) forbid(c *gin.Context, why, message, pageMessage string) {
	LoggerFrom(c).Warn("console: " + why)
	if wantsJSON(c) {
		abort(c, http.StatusForbidden, CodeForbidden, message)
		return
	}
	h.errorPage(c, http.StatusForbidden, pageMessage)
}

func isURLEncodedForm(c *gin.Context) bool {
	return strings.HasPrefix(strings.ToLower(c.GetHeader("Content-Type")), "application/x-www-form-urlencoded")
}

// sameOrigin refuses posts a browser says come from another site (Sec-Fetch-Site, Origin):
// SameSite cookies and CSRF tokens already stop them; this says so early and plainly.
func (h *console) sameOrigin(c *gin.Context) {
	site := c.GetHeader("Sec-Fetch-Site")
	origin := c.GetHeader("Origin")
	cross := site != "" && site != "same-origin" && site != "none"
	if origin != "" && origin != "null" {
		u, err := url.Parse(origin)
		cross = cross || err != nil || (u.Host != c.Request.Host && !h.publicHost(u.Host))
	}
	if !cross {
		c.Next()
		return
	}
	h.forbid(c, "cross-site post refused", "cross-site requests are refused", "This request came from another site and was refused.")
}

func (h *console) publicHost(host string) bool {
	u, err := url.Parse(h.cfg.PublicURL)
	return err == nil && h.cfg.PublicURL != "" && u.Host == host
}
