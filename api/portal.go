package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/epcflow/epcflow/portal"
	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/starter"
	"github.com/epcflow/epcflow/workflows"
)

// The portal: a recipient's invitation link signs them in with a fresh session; the open
// route lets the user invited for a recipient, and no one else, into its Delivery Room.

// Routes and names of the portal, declared once.
const (
	SignInPath  = "/portal/signin"
	HomePath    = "/portal/"
	OpenPath    = "/portal/packages/:packageId/recipients/:recipientId/open"
	SignOutPath = "/portal/signout"
	// CookieName holds the portal session after sign-in.
	CookieName = "epcflow_portal"
)

// Lifetimes of the portal's credentials when Delivery names none.
const (
	// DefaultInvitationTTL: an invitation link (and a portal-token link) signs in for 30 days.
	DefaultInvitationTTL = 30 * 24 * time.Hour
	// DefaultSessionTTL: a session, the cookie, lasts 12 hours; the link signs in again.
	DefaultSessionTTL = 12 * time.Hour
)

// notForYou is the one answer to an open the signed-in user may not make: an unknown package,
// a recipient that is not one, another user's recipient, one bound to someone else. It
// names nothing, so it tells nobody which ids exist.
const notForYou = "there is nothing to open here for you: use the link from your invitation e-mail"

// OpenURLPath is the portal path that opens a package as a recipient.
func OpenURLPath(packageID, recipientID string) string {
	return "/portal/packages/" + url.PathEscape(packageID) + "/recipients/" + url.PathEscape(recipientID) + "/open"
}

// SignInURL is the invitation link: it signs the token's user in and leads to next.
func SignInURL(base, token, next string) string {
	q := url.Values{}
	q.Set("token", token)
	if next != "" {
		q.Set("next", next)
	}
	return strings.TrimRight(base, "/") + SignInPath + "?" + q.Encode()
}

// IssuePortalToken gives the portal user with email (created if none) a sign-in token valid
// for DefaultInvitationTTL, and the sign-in URL under baseURL ("" → no URL). The user then
// opens what they were invited for. For `epcflow start portal-token --email …`.
func IssuePortalToken(ctx context.Context, store *portal.Store, email, baseURL string) (token, signInURL string, err error) {
	if store == nil {
		return "", "", errors.New("api: IssuePortalToken: no portal store")
	}
	u, _, err := store.ResolveUser(ctx, email, "", "")
	if err != nil {
		return "", "", err
	}
	tok, err := store.IssueToken(ctx, u.ID, DefaultInvitationTTL)
	if err != nil {
		return "", "", err
	}
	if baseURL != "" {
		signInURL = SignInURL(baseURL, tok, "")
	}
	return tok, signInURL, nil
}

// signIn is GET /portal/signin?token=…&next=…: it exchanges the link's token for a fresh
// session (the cookie) and redirects to next, a path under /portal/ only (no open redirect).
// The link stays good until it expires or is revoked: a person may open it again.
func (h *deliveryRoutes) signIn(c *gin.Context) {
	next := c.Query("next")
	if next == "" {
		next = HomePath
	}
	if !safeNext(next) {
		abort(c, http.StatusBadRequest, CodeInvalidRequest, "next must be a path under /portal/")
		return
	}
	tok := c.Query("token")
	if tok == "" {
		abort(c, http.StatusBadRequest, CodeInvalidRequest, "token required")
		return
	}
	ctx := c.Request.Context()
	u, err := h.cfg.Portal.SignIn(ctx, h.cfg.Secret, tok)
	switch {
	case errors.Is(err, portal.ErrNotFound):
		LoggerFrom(c).Info("portal sign-in refused: unknown, expired or revoked link")
		abort(c, http.StatusUnauthorized, CodeUnauthorized, "this sign-in link is unknown, expired or revoked: ask for a new one")
		return
	case err != nil:
		portalUnavailable(c, "read invitation", err)
		return
	}
	session, _, err := h.cfg.Portal.CreateSession(ctx, u.ID, h.cfg.SessionTTL)
	if err != nil {
		portalUnavailable(c, "create session", err)
		return
	}
	h.setCookie(c, session, int(h.cfg.SessionTTL/time.Second))
	LoggerFrom(c).Info("portal sign-in", slog.String("user", u.ID))
	c.Header("Cache-Control", "no-store")
	c.Header("Referrer-Policy", "no-referrer") // the sign-in URL carries the token
	c.Redirect(http.StatusFound, next)
}

// setCookie sets (maxAge > 0) or clears (maxAge < 0) the session cookie: HttpOnly, SameSite
// Lax (it goes along when a person follows a link from their e-mail, not with another site's
// form posts), Secure when the portal is served over https.
func (h *deliveryRoutes) setCookie(c *gin.Context, value string, maxAge int) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name:     CookieName,
		Value:    value,
		Path:     HomePath,
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   strings.HasPrefix(h.base, "https://"),
		SameSite: http.SameSiteLaxMode,
	})
}

// safeNext accepts a relative path under /portal/ only: no scheme, no host, no "//", no
// backslash, no dot segments.
func safeNext(next string) bool { return safePathUnder(next, "/portal/") }

// safePathUnder accepts a relative path under prefix (which ends in "/") only, fit for a
// redirect: no scheme, no host, no "//", no backslash, no dot segments.
func safePathUnder(next, prefix string) bool {
	if !strings.HasPrefix(next, prefix) || strings.ContainsAny(next, "\\\r\n\t") || strings.Contains(next, "//") {
		return false
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return false
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return strings.HasPrefix(u.Path, prefix)
}

// sessionUser finds the user of the request's session cookie; on failure it has answered
// 401 (or 503).
func (h *deliveryRoutes) sessionUser(c *gin.Context) (portal.User, bool) {
	ck, err := c.Request.Cookie(CookieName)
	if err != nil || ck.Value == "" {
		abort(c, http.StatusUnauthorized, CodeUnauthorized, "portal sign-in required: open the link from your invitation e-mail")
		return portal.User{}, false
	}
	u, err := h.cfg.Portal.UserBySession(c.Request.Context(), ck.Value)
	switch {
	case errors.Is(err, portal.ErrNotFound):
		abort(c, http.StatusUnauthorized, CodeUnauthorized, "your portal session has ended: open the link from your invitation e-mail again")
		return portal.User{}, false
	case err != nil:
		portalUnavailable(c, "read session", err)
		return portal.User{}, false
	}
	return u, true
}

// portalUnavailable answers 503; the cause is logged, not sent.
func portalUnavailable(c *gin.Context, what string, err error) {
	LoggerFrom(c).Error("portal: "+what, slog.String("error", err.Error()))
	unavailable(c, "1", "the portal is unavailable; try again shortly")
}

// open is GET /portal/packages/{packageId}/recipients/{recipientId}/open: if the signed-in
// user is the one invited for that recipient, bind the recipient to them (for good: the
// seed's rule), create a Delivery Room session and redirect to it. The session URL is neither
// stored nor logged. Anything else gets notForYou, and counts against the user's limit of
// refused opens; over it, every open of theirs gets 429 for a while.
func (h *deliveryRoutes) open(c *gin.Context) {
	user, ok := h.sessionUser(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	packageID, recipientID := c.Param("packageId"), c.Param("recipientId")
	log := LoggerFrom(c).With(slog.String("user", user.ID), slog.String("package", logValue(packageID)), slog.String("recipient", logValue(recipientID)))
	if wait, limited := h.refused.limited(user.ID); limited {
		log.Warn("portal open refused: too many refused opens")
		c.Header("Retry-After", strconv.Itoa(int(wait.Round(time.Second)/time.Second)+1))
		abort(c, http.StatusTooManyRequests, CodeTooManyRequests, "too many attempts to open packages that are not yours: try again later")
		return
	}
	pkg, err := h.cfg.Portal.Authorize(ctx, packageID, recipientID, user.ID)
	if err == nil {
		err = h.cfg.Portal.Bind(ctx, pkg.Key, recipientID, user.ID)
	}
	switch {
	case errors.Is(err, portal.ErrNotFound), errors.Is(err, portal.ErrAmbiguous), errors.Is(err, portal.ErrBoundToOther):
		h.refused.refuse(user.ID)
		log.Warn("portal open refused", slog.String("reason", refusalReason(err)))
		abort(c, http.StatusNotFound, CodeNotFound, notForYou)
		return
	case err != nil:
		portalUnavailable(c, "authorize", err)
		return
	}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	sess, err := h.cfg.DeliveryRoom.CreateSession(cctx, pos.CreateSessionRequest{
		InstanceID: pkg.InstanceID, GroupNamespace: pkg.GroupNamespace, GroupID: pkg.GroupID,
		PackageID: pkg.PackageID, RecipientID: recipientID, UserID: user.ID,
	})
	if err != nil {
		var ae *pos.APIError
		if errors.As(err, &ae) && ae.Forbidden() {
			log.Warn("open refused by the Delivery Room", slog.String("error", err.Error()))
			abort(c, http.StatusForbidden, CodeForbidden, "the Delivery Room refused this recipient for this user")
			return
		}
		log.Error("create session failed", slog.String("error", err.Error()))
		abort(c, http.StatusBadGateway, CodeUpstream, "the Delivery Room is unavailable; try again shortly")
		return
	}
	if !h.signalOpened(ctx, log, pkg.Key, recipientID, user.ID) {
		// The workflow must learn of the open, or the package waits for it until it expires.
		// The session just created is never shown: its URL expires unused within seconds,
		// and the person's next try creates another.
		unavailable(c, "1", "the portal is unavailable; try again shortly")
		return
	}
	log.Info("delivery room session created", slog.String("session", sess.SessionID))
	c.Header("Cache-Control", "no-store")
	c.Header("Referrer-Policy", "no-referrer")
	c.Redirect(http.StatusFound, sess.URL)
}

// refusalReason says in the log why an open was refused; the person is told none of it.
func refusalReason(err error) string {
	switch {
	case errors.Is(err, portal.ErrBoundToOther):
		return "recipient bound to another portal user"
	case errors.Is(err, portal.ErrAmbiguous):
		return "invited as this recipient under this packageId in more than one loan"
	default:
		return "not invited: no such package, no such recipient, or another user's"
	}
}

// logValue bounds an id from the URL for a log line.
func logValue(s string) string {
	const max = 128
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "…"
}

// signOut is POST /portal/signout: the session ends and the cookie is cleared. Another site
// cannot sign a user out: the SameSite=Lax cookie does not go along with its posts.
func (h *deliveryRoutes) signOut(c *gin.Context) {
	if ck, err := c.Request.Cookie(CookieName); err == nil && ck.Value != "" {
		if err := h.cfg.Portal.EndSession(c.Request.Context(), ck.Value); err != nil {
			portalUnavailable(c, "end session", err)
			return
		}
	}
	h.setCookie(c, "", -1)
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "text/html; charset=utf-8", []byte(signedOutPage))
}

// signalOpened tells the package workflow, and reports whether the person may go in: yes
// once the workflow has the signal, or when it has finished (expired, or all opened: it has
// nothing left to learn); no when Temporal could not take the signal now.
func (h *deliveryRoutes) signalOpened(ctx context.Context, log *slog.Logger, key, recipientID, userID string) bool {
	sctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	err := h.cfg.Engine.SignalPackageOpened(sctx, key, workflows.RecipientOpened{RecipientID: recipientID, UserID: userID})
	switch {
	case err == nil:
		return true
	case errors.Is(err, starter.ErrNotFound):
		log.Info("package workflow already finished; open not recorded")
		return true
	default:
		log.Warn("signal package workflow failed; the open is refused for now", slog.String("error", err.Error()))
		return false
	}
}
