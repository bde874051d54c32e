package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
)

// The console's sign-in and sign-out pages.

// signInForm is what the sign-in page shows.
type signInForm struct {
	Mode     string
	Next     string
	Name     string
	CSRF     string
	Error    string
	Problems map[string]string // field → message
	Notice   string
}

// signInPage is GET /console/signin: the form, or, behind the single sign-on proxy, the
// session at once.
func (h *console) signInPage(c *gin.Context) {
	next := h.next(c.Query("next"))
	if _, ok := h.session(c); ok {
		c.Redirect(http.StatusSeeOther, next)
		return
	}
	if h.mode() == modeProxy {
		user, ok := h.proxyUser(c)
		if !ok {
			LoggerFrom(c).Warn("console: sign-in without the proxy's user or secret")
			h.errorPage(c, http.StatusUnauthorized, "Sign in through your organisation's single sign-on: this address must be reached through it.")
			return
		}
		h.startSession(c, user, next)
		return
	}
	f := signInForm{Next: next}
	if c.Query("out") != "" {
		f.Notice = "You are signed out."
	}
	h.showSignIn(c, http.StatusOK, f)
}

// showSignIn renders the form with a fresh sign-in nonce (a cookie), whose MAC is the form's
// CSRF token: another site cannot sign a browser in under a name of its choosing.
func (h *console) showSignIn(c *gin.Context, status int, f signInForm) {
	nonce := randomID()
	h.setCookie(c, consoleSignInCookie, nonce, int(signInFormTTL/time.Second))
	f.Mode, f.CSRF = h.mode(), b64.EncodeToString(h.keys.sum("signin", nonce))
	h.render(c, status, "signin", pageData{Title: "Sign in", Content: f})
}

// signIn is POST /console/signin: name (who is acting) and, unless the console is open, the
// operator token.
func (h *console) signIn(c *gin.Context) {
	if h.mode() == modeProxy {
		h.errorPage(c, http.StatusNotFound, "Sign in through your organisation's single sign-on.")
		return
	}
	ip := c.ClientIP()
	if wait, limited := h.signIns.limited(ip); limited {
		LoggerFrom(c).Warn("console: sign-in refused: too many failed sign-ins")
		c.Header("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
		h.errorPage(c, http.StatusTooManyRequests, "Too many failed sign-ins from here: wait a minute and try again.")
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxConsoleFormBytes)
	if !isURLEncodedForm(c) {
		h.errorPage(c, http.StatusUnsupportedMediaType, "Sign in with the sign-in form.")
		return
	}
	f := signInForm{Next: h.next(c.PostForm("next")), Name: c.PostForm("name"), Problems: map[string]string{}}
	nonce, err := c.Request.Cookie(consoleSignInCookie)
	have, derr := b64.DecodeString(c.PostForm(csrfField))
	if err != nil || derr != nil || !hmacEqual(have, h.keys.sum("signin", nonce.Value)) {
		f.Error = "The sign-in form had expired: please sign in again."
		h.showSignIn(c, http.StatusForbidden, f)
		return
	}
	name, msg := checkActor(f.Name)
	if msg != "" {
		f.Problems["name"] = "Your name " + msg + "."
	}
	if h.mode() == modeToken {
		want := sha256.Sum256([]byte(h.srv.cfg.OperatorToken))
		got := sha256.Sum256([]byte(c.PostForm("token")))
		if subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
			h.signIns.refuse(ip)
			LoggerFrom(c).Warn("console: sign-in refused: wrong operator token")
			f.Problems["token"] = "This is not the operator token."
		}
	}
	if len(f.Problems) > 0 {
		status := http.StatusBadRequest
		if f.Problems["token"] != "" {
			status = http.StatusUnauthorized
		}
		f.Error = "You are not signed in."
		h.showSignIn(c, status, f)
		return
	}
	h.setCookie(c, consoleSignInCookie, "", -1)
	h.startSession(c, name, f.Next)
}

func hmacEqual(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// startSession signs actor in and sends them on to next.
func (h *console) startSession(c *gin.Context, actor, next string) {
	s := consoleSess{ID: randomID(), Actor: actor, Mode: h.mode(), Expires: time.Now().Add(h.cfg.SessionTTL)}
	h.setCookie(c, consoleCookie, h.keys.encode(s), int(h.cfg.SessionTTL/time.Second))
	LoggerFrom(c).Info("console: signed in", "actor", actor, "mode", s.Mode)
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusSeeOther, next)
}

// signOut is POST /console/signout: the cookie is cleared. (The session cannot be revoked
// elsewhere: a copy of the cookie would last until it expires; changing the operator token
// ends every session.)
func (h *console) signOut(c *gin.Context) {
	h.setCookie(c, consoleCookie, "", -1)
	LoggerFrom(c).Info("console: signed out")
	c.Redirect(http.StatusSeeOther, ConsolePath+"signin?out=1")
}

// next is where to go after signing in: a path under /console/, else the queue.
func (h *console) next(v string) string {
	if v == "" || !safePathUnder(v, ConsolePath) || len(v) > 2048 {
		return ConsolePath
	}
	return v
}
