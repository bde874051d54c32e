package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/epcflow/epcflow/portal"
	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/starter"
	"github.com/epcflow/epcflow/workflows"
)

// The portal: a recipient's invitation link signs them in; the open route binds them to the
// recipient and hands them over to the Delivery Room.

// Routes and names of the portal, declared once.
const (
	SignInPath = "/portal/signin"
	OpenPath   = "/portal/packages/:packageId/recipients/:recipientId/open"
	// CookieName holds the portal token after sign-in.
	CookieName = "epcflow_portal"
)

// DefaultTokenTTL is how long an invitation's portal token is good when Delivery names none.
const DefaultTokenTTL = 30 * 24 * time.Hour

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
// for DefaultTokenTTL, and the sign-in URL under baseURL ("" → no URL). For `epcflow start
// portal-token --email …`.
func IssuePortalToken(ctx context.Context, store *portal.Store, email, baseURL string) (token, signInURL string, err error) {
	if store == nil {
		return "", "", errors.New("api: IssuePortalToken: no portal store")
	}
	u, _, err := store.ResolveUser(ctx, email, "", "")
	if err != nil {
		return "", "", err
	}
	tok, err := store.IssueToken(ctx, u.ID, DefaultTokenTTL)
	if err != nil {
		return "", "", err
	}
	if baseURL != "" {
		signInURL = SignInURL(baseURL, tok, "")
	}
	return tok, signInURL, nil
}

// signIn is GET /portal/signin?token=…&next=…: it checks the token, sets the cookie and
// redirects to next, a path under /portal/ only (no open redirect).
func (h *deliveryRoutes) signIn(c *gin.Context) {
	next := c.Query("next")
	if next == "" {
		next = "/portal/"
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
	if _, ok := h.authenticate(c, tok); !ok {
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name:     CookieName,
		Value:    tok,
		Path:     "/portal/",
		MaxAge:   int(h.cfg.TokenTTL / time.Second),
		HttpOnly: true,
		Secure:   strings.HasPrefix(h.base, "https://"),
		SameSite: http.SameSiteLaxMode,
	})
	c.Header("Cache-Control", "no-store")
	c.Header("Referrer-Policy", "no-referrer") // the sign-in URL carries the token
	c.Redirect(http.StatusFound, next)
}

// safeNext accepts a relative path under /portal/ only: no scheme, no host, no "//", no
// backslash, no dot segments.
func safeNext(next string) bool {
	if !strings.HasPrefix(next, "/portal/") || strings.ContainsAny(next, "\\\r\n\t") || strings.Contains(next, "//") {
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
	return strings.HasPrefix(u.Path, "/portal/")
}

// authenticate finds the user of a token; on failure it has answered 401 (or 503).
func (h *deliveryRoutes) authenticate(c *gin.Context, tok string) (portal.User, bool) {
	if tok == "" {
		abort(c, http.StatusUnauthorized, CodeUnauthorized, "portal sign-in required: Authorization: Bearer <portal token> or the invitation link")
		return portal.User{}, false
	}
	u, err := h.cfg.Portal.UserByToken(c.Request.Context(), tok)
	switch {
	case errors.Is(err, portal.ErrNotFound):
		abort(c, http.StatusUnauthorized, CodeUnauthorized, "unknown or expired portal token")
		return portal.User{}, false
	case err != nil:
		LoggerFrom(c).Error("portal: read token", slog.String("error", err.Error()))
		abort(c, http.StatusServiceUnavailable, CodeUnavailable, "the portal is unavailable; try again shortly")
		return portal.User{}, false
	}
	return u, true
}

// portalToken is the bearer token, else the sign-in cookie.
func portalToken(c *gin.Context) string {
	if a := c.GetHeader("Authorization"); a != "" {
		if tok, ok := strings.CutPrefix(a, "Bearer "); ok {
			return strings.TrimSpace(tok)
		}
		return ""
	}
	if ck, err := c.Request.Cookie(CookieName); err == nil {
		return ck.Value
	}
	return ""
}

// open is GET /portal/packages/{packageId}/recipients/{recipientId}/open: bind the recipient
// to the signed-in user (first one wins, for good), create a Delivery Room session and
// redirect to it. The session URL is neither stored nor logged.
func (h *deliveryRoutes) open(c *gin.Context) {
	user, ok := h.authenticate(c, portalToken(c))
	if !ok {
		return
	}
	ctx := c.Request.Context()
	packageID, recipientID := c.Param("packageId"), c.Param("recipientId")
	log := LoggerFrom(c).With(slog.String("package", packageID), slog.String("recipient", recipientID), slog.String("user", user.ID))
	pkg, ok := h.bind(c, log, packageID, recipientID, user)
	if !ok {
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
	h.signalOpened(ctx, log, pkg.Key, recipientID, user.ID)
	log.Info("delivery room session created", slog.String("session", sess.SessionID))
	c.Header("Cache-Control", "no-store")
	c.Header("Referrer-Policy", "no-referrer")
	c.Redirect(http.StatusFound, sess.URL)
}

// bind finds the package and binds the recipient to the user; on failure it has answered.
func (h *deliveryRoutes) bind(c *gin.Context, log *slog.Logger, packageID, recipientID string, user portal.User) (portal.Package, bool) {
	ctx := c.Request.Context()
	pkg, err := h.cfg.Portal.PackageByID(ctx, packageID)
	switch {
	case errors.Is(err, portal.ErrNotFound), errors.Is(err, portal.ErrAmbiguous):
		abort(c, http.StatusNotFound, CodeNotFound, "package not found")
		return pkg, false
	case err != nil:
		log.Error("portal: read package", slog.String("error", err.Error()))
		abort(c, http.StatusServiceUnavailable, CodeUnavailable, "the portal is unavailable; try again shortly")
		return pkg, false
	}
	if !pkg.HasRecipient(recipientID) {
		abort(c, http.StatusNotFound, CodeNotFound, "recipient not found in the package")
		return pkg, false
	}
	switch err := h.cfg.Portal.Bind(ctx, pkg.Key, recipientID, user.ID); {
	case errors.Is(err, portal.ErrBoundToOther):
		log.Warn("open refused: recipient bound to another user")
		abort(c, http.StatusForbidden, CodeForbidden, "this recipient is bound to another portal user")
		return pkg, false
	case err != nil:
		log.Error("portal: bind", slog.String("error", err.Error()))
		abort(c, http.StatusServiceUnavailable, CodeUnavailable, "the portal is unavailable; try again shortly")
		return pkg, false
	}
	return pkg, true
}

// signalOpened tells the package workflow; a failure is logged only: the person is already
// in, and a finished workflow (expired, or all opened) has nothing left to learn.
func (h *deliveryRoutes) signalOpened(ctx context.Context, log *slog.Logger, key, recipientID, userID string) {
	sctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	err := h.cfg.Engine.SignalPackageOpened(sctx, key, workflows.RecipientOpened{RecipientID: recipientID, UserID: userID})
	switch {
	case err == nil:
	case errors.Is(err, starter.ErrNotFound):
		log.Info("package workflow already finished; open not recorded")
	default:
		log.Warn("signal package workflow failed", slog.String("error", err.Error()))
	}
}
