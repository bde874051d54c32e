package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/epcflow/epcflow/portal"
	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/schemas"
)

// Routes and names of the portal, declared once.
const (
	PackagesPath = "/v1/packages"
	SignInPath   = "/portal/signin"
	OpenPath     = "/portal/packages/:packageId/recipients/:recipientId/open"
	// CookieName holds the portal token after sign-in.
	CookieName = "epcflow_portal"
)

// DefaultTokenTTL is how long an invitation's portal token is good when Config names none.
const DefaultTokenTTL = 30 * 24 * time.Hour

// maxEventBody bounds a Create Package Event body (100 recipients fit easily).
const maxEventBody = 1 << 20

// callTimeout bounds each outside call on the request path; the platform wants an answer to
// the package event within 1 s.
const callTimeout = 5 * time.Second

// Config is what the delivery endpoints need.
type Config struct {
	// Verifier checks the signature of Create Package Events.
	Verifier *pos.Verifier
	// Portal is the portal database: users, tokens, bindings, answers, packages.
	Portal *portal.Store
	// Temporal starts and signals package workflows on TaskQueue.
	Temporal  client.Client
	TaskQueue string
	// PortalBaseURL is the API's public URL, the root of the portal links in e-mails.
	PortalBaseURL string
	// DeliveryRoom creates Delivery Room sessions.
	DeliveryRoom *pos.DeliveryRoomClient
	// Logger; nil discards.
	Logger *slog.Logger
	// TokenTTL is the life of invitation tokens; zero means DefaultTokenTTL.
	TokenTTL time.Duration
	// ExpiresAfter is how long package workflows track their recipients; zero means
	// DefaultExpiresAfter.
	ExpiresAfter time.Duration
}

type handler struct {
	cfg  Config
	base string
	log  *slog.Logger
}

// Register adds POST /v1/packages, GET /portal/signin and GET /portal/packages/{packageId}/
// recipients/{recipientId}/open to r.
func Register(r gin.IRoutes, cfg Config) error {
	var missing []string
	if cfg.Verifier == nil {
		missing = append(missing, "Verifier")
	}
	if cfg.Portal == nil {
		missing = append(missing, "Portal")
	}
	if cfg.Temporal == nil {
		missing = append(missing, "Temporal")
	}
	if cfg.TaskQueue == "" {
		missing = append(missing, "TaskQueue")
	}
	if cfg.DeliveryRoom == nil {
		missing = append(missing, "DeliveryRoom")
	}
	if len(missing) > 0 {
		return fmt.Errorf("delivery: Register: %s required", strings.Join(missing, ", "))
	}
	base, err := checkBaseURL(cfg.PortalBaseURL)
	if err != nil {
		return err
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{cfg: cfg, base: base, log: cfg.Logger}
	r.POST(PackagesPath, h.postPackage)
	r.GET(SignInPath, h.signIn)
	r.GET(OpenPath, h.open)
	return nil
}

func checkBaseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", errors.New("delivery: PortalBaseURL must be an absolute http(s) URL")
	}
	return strings.TrimRight(raw, "/"), nil
}

// errorBody is every error answer: a sentence, and for invalid input every problem found.
type errorBody struct {
	Error    string            `json:"error"`
	Problems []schemas.Problem `json:"problems,omitempty"`
}

func writeError(c *gin.Context, status int, msg string) {
	c.AbortWithStatusJSON(status, errorBody{Error: msg})
}

// postPackage is the Create Package Event webhook: signature first, then the body, then the
// answer, stored once per package key.
func (h *handler) postPackage(c *gin.Context) {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxEventBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(c, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", maxEventBody))
			return
		}
		writeError(c, http.StatusBadRequest, "could not read the body")
		return
	}
	if err := h.cfg.Verifier.Verify(c.Request.Header, body); err != nil {
		h.log.Warn("package event refused: signature", slog.String("error", err.Error()))
		writeError(c, http.StatusUnauthorized, strings.TrimPrefix(err.Error(), "pos: "))
		return
	}
	ev, err := pos.ParsePackageEvent(body)
	if err != nil {
		c.AbortWithStatusJSON(http.StatusBadRequest, errorBody{Error: "invalid Create Package Event", Problems: schemas.Problems(err)})
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), callTimeout)
	defer cancel()
	key := ev.Key()
	log := h.log.With(slog.String("package", ev.PackageID))

	if stored, err := h.cfg.Portal.Answer(ctx, key); err == nil {
		log.Info("package event resent: answering the stored answer")
		c.Data(http.StatusOK, "application/json; charset=utf-8", stored)
		return
	} else if !errors.Is(err, portal.ErrNotFound) {
		h.unavailable(c, log, "read answer", err)
		return
	}

	answer := pos.PackageAnswer{Recipients: make([]pos.RecipientAnswer, 0, len(ev.Recipients))}
	ids := make([]string, len(ev.Recipients))
	in := PackageInput{Key: key, InstanceID: ev.InstanceID, GroupNamespace: ev.GroupNamespace, GroupID: ev.GroupID,
		PackageID: ev.PackageID, Recipients: make([]PackageRecipient, len(ev.Recipients)), ExpiresAfter: h.cfg.ExpiresAfter}
	for i, r := range ev.Recipients {
		ids[i] = r.RecipientID
		in.Recipients[i] = PackageRecipient{RecipientID: r.RecipientID, Role: r.Role}
		u, _, err := h.cfg.Portal.ResolveUser(ctx, r.Email, r.FirstName, r.LastName)
		if err != nil {
			h.unavailable(c, log, "resolve user", err)
			return
		}
		tok, err := h.cfg.Portal.IssueToken(ctx, u.ID, h.cfg.TokenTTL)
		if err != nil {
			h.unavailable(c, log, "issue token", err)
			return
		}
		link := SignInURL(h.base, tok, OpenURLPath(ev.PackageID, r.RecipientID))
		answer.Recipients = append(answer.Recipients, pos.RecipientAnswer{
			RecipientID: r.RecipientID, EmailHTML: emailHTML(r, link), PortalURL: link})
	}
	if err := h.cfg.Portal.SavePackage(ctx, key, ev.PackageID, ev.InstanceID, ev.GroupNamespace, ev.GroupID, ids); err != nil {
		h.unavailable(c, log, "save package", err)
		return
	}
	// The workflow starts before the answer is stored: once an answer is stored, a resend
	// starts nothing, so the workflow must already exist. A crash in between is healed by the
	// resend, which starts it again (already started is fine).
	if err := h.startWorkflow(ctx, in); err != nil {
		h.unavailable(c, log, "start workflow", err)
		return
	}
	raw, err := json.Marshal(answer)
	if err != nil {
		h.unavailable(c, log, "encode answer", err)
		return
	}
	stored, first, err := h.cfg.Portal.SaveAnswer(ctx, key, raw)
	if err != nil {
		h.unavailable(c, log, "save answer", err)
		return
	}
	log.Info("package event answered", slog.Int("recipients", len(ev.Recipients)), slog.Bool("first", first))
	c.Data(http.StatusOK, "application/json; charset=utf-8", stored)
}

func (h *handler) startWorkflow(ctx context.Context, in PackageInput) error {
	_, err := h.cfg.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        PackageWorkflowID(in.Key),
		TaskQueue: h.cfg.TaskQueue,
		// A finished package is not tracked again; a running one is left alone.
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, PackageWorkflowName, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return nil
	}
	return err
}

// unavailable answers 503: the platform retries the event. The cause is logged, not sent.
func (h *handler) unavailable(c *gin.Context, log *slog.Logger, what string, err error) {
	log.Error("package event failed", slog.String("step", what), slog.String("error", err.Error()))
	c.Header("Retry-After", "1")
	writeError(c, http.StatusServiceUnavailable, "the package could not be taken now; try again shortly")
}

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

// emailHTML is the invitation e-mail for a recipient; every value is escaped.
func emailHTML(r pos.Recipient, link string) string {
	return "<p>Hello " + html.EscapeString(r.FirstName) + " " + html.EscapeString(r.LastName) + ",</p>\n" +
		"<p>Documents for your loan are ready in the ICE Delivery Room.</p>\n" +
		`<p><a href="` + html.EscapeString(link) + `">Open your documents</a></p>` + "\n"
}

// signIn is GET /portal/signin?token=…&next=…: it checks the token, sets the cookie and
// redirects to next, a path under /portal/ only (no open redirect).
func (h *handler) signIn(c *gin.Context) {
	next := c.Query("next")
	if next == "" {
		next = "/portal/"
	}
	if !safeNext(next) {
		writeError(c, http.StatusBadRequest, "next must be a path under /portal/")
		return
	}
	tok := c.Query("token")
	if tok == "" {
		writeError(c, http.StatusBadRequest, "token required")
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
func (h *handler) authenticate(c *gin.Context, tok string) (portal.User, bool) {
	if tok == "" {
		writeError(c, http.StatusUnauthorized, "portal sign-in required: Authorization: Bearer <portal token> or the invitation link")
		return portal.User{}, false
	}
	u, err := h.cfg.Portal.UserByToken(c.Request.Context(), tok)
	switch {
	case errors.Is(err, portal.ErrNotFound):
		writeError(c, http.StatusUnauthorized, "unknown or expired portal token")
		return portal.User{}, false
	case err != nil:
		h.log.Error("portal: read token", slog.String("error", err.Error()))
		writeError(c, http.StatusServiceUnavailable, "the portal is unavailable; try again shortly")
		return portal.User{}, false
	}
	return u, true
}

// requestToken is the bearer token, else the sign-in cookie.
func requestToken(c *gin.Context) string {
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
func (h *handler) open(c *gin.Context) {
	user, ok := h.authenticate(c, requestToken(c))
	if !ok {
		return
	}
	ctx := c.Request.Context()
	packageID, recipientID := c.Param("packageId"), c.Param("recipientId")
	log := h.log.With(slog.String("package", packageID), slog.String("recipient", recipientID), slog.String("user", user.ID))
	pkg, err := h.cfg.Portal.PackageByID(ctx, packageID)
	switch {
	case errors.Is(err, portal.ErrNotFound), errors.Is(err, portal.ErrAmbiguous):
		writeError(c, http.StatusNotFound, "package not found")
		return
	case err != nil:
		log.Error("portal: read package", slog.String("error", err.Error()))
		writeError(c, http.StatusServiceUnavailable, "the portal is unavailable; try again shortly")
		return
	}
	if !pkg.HasRecipient(recipientID) {
		writeError(c, http.StatusNotFound, "recipient not found in the package")
		return
	}
	switch err := h.cfg.Portal.Bind(ctx, pkg.Key, recipientID, user.ID); {
	case errors.Is(err, portal.ErrBoundToOther):
		log.Warn("open refused: recipient bound to another user")
		writeError(c, http.StatusForbidden, "this recipient is bound to another portal user")
		return
	case err != nil:
		log.Error("portal: bind", slog.String("error", err.Error()))
		writeError(c, http.StatusServiceUnavailable, "the portal is unavailable; try again shortly")
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
			writeError(c, http.StatusForbidden, "the Delivery Room refused this recipient for this user")
			return
		}
		log.Error("create session failed", slog.String("error", err.Error()))
		writeError(c, http.StatusBadGateway, "the Delivery Room is unavailable; try again shortly")
		return
	}
	h.signalOpened(ctx, log, pkg.Key, recipientID, user.ID)
	log.Info("delivery room session created", slog.String("session", sess.SessionID))
	c.Header("Cache-Control", "no-store")
	c.Header("Referrer-Policy", "no-referrer")
	c.Redirect(http.StatusFound, sess.URL)
}

// signalOpened tells the package workflow; a failure is logged only: the person is already
// in, and a finished workflow (expired, or all opened) has nothing left to learn.
func (h *handler) signalOpened(ctx context.Context, log *slog.Logger, key, recipientID, userID string) {
	sctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	err := h.cfg.Temporal.SignalWorkflow(sctx, PackageWorkflowID(key), "", SignalRecipientOpened,
		OpenedSignal{RecipientID: recipientID, UserID: userID})
	var nf *serviceerror.NotFound
	switch {
	case err == nil:
	case errors.As(err, &nf):
		log.Info("package workflow already finished; open not recorded")
	default:
		log.Warn("signal package workflow failed", slog.String("error", err.Error()))
	}
}

// IssueToken gives the portal user with email (created if none) a sign-in token valid for
// DefaultTokenTTL, and the sign-in URL under baseURL ("" → no URL). For `epcflow start
// portal-token --email …`.
func IssueToken(ctx context.Context, store *portal.Store, email, baseURL string) (token, signInURL string, err error) {
	if store == nil {
		return "", "", errors.New("delivery: IssueToken: no portal store")
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
