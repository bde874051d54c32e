package api

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/epcflow/epcflow/starter"
	"github.com/epcflow/epcflow/workflows"
)

// The operator console: web pages for the partner's staff under /console/, served from the
// binary (templates and static files embedded; no script or style from anywhere else).
//
//	GET  /console/signin, POST /console/signin    sign in: the operator token and who is acting (console_auth.go)
//	POST /console/signout
//	GET  /console/                                work queue, search, filters, finished orders (console_queue.go)
//	GET  /console/orders/:id                      an order: what the lender asked, its timeline (console_order.go)
//	POST /console/orders/:id/schedule|progress    operator actions (HTML forms)
//	POST /console/orders/:id/deliver              the report (multipart from the page's script, JSON answers)
//	GET  /console/sessions                        Delivery Room packages and Inbank payment sessions
//	GET  /console/static/*                        the console's CSS and script

// ConsolePath is the console's root.
const ConsolePath = "/console/"

// ConsoleEngine reads what the console shows; *starter.Console satisfies it. Actions go
// through Config.Engine, as on the JSON API.
type ConsoleEngine interface {
	Orders(ctx context.Context, f starter.OrderFilter, size int, token []byte) (starter.OrderPage, error)
	CountOrders(ctx context.Context, f starter.OrderFilter) (int64, error)
	Order(ctx context.Context, transactionID string) (starter.OrderHistory, error)
	Packages(ctx context.Context, size int, token []byte) ([]starter.PackageRow, []byte, error)
	Payments(ctx context.Context, size int, token []byte) ([]starter.PaymentRow, []byte, error)
}

var _ ConsoleEngine = (*starter.Console)(nil)

// Console configures the operator console. Operators sign in with the operator token
// (Config.OperatorToken) and their name; with none configured the console is open like /v1
// (development) and asks for the name only; with ProxyUserHeader, an authenticating proxy in
// front signs them in (single sign-on).
type Console struct {
	Engine ConsoleEngine
	// TemporalUIURL is the Temporal Web UI's base URL, for the engineers' links on an order
	// page (empty: no links); Namespace is the workflows' namespace (default "default").
	TemporalUIURL, Namespace string
	// PublicURL is the API's base URL as browsers reach it: over https the cookies are Secure.
	PublicURL string
	// SessionTTL is how long a sign-in lasts (default DefaultConsoleSessionTTL).
	SessionTTL time.Duration
	// ProxyUserHeader, when set, names the header in which an authenticating proxy passes the
	// signed-in user (e.g. X-Forwarded-User); the proxy must also send ProxySecret in
	// ConsoleProxySecretHeader, so that a request that bypassed it is refused. The console's
	// sign-in form is then not used.
	ProxyUserHeader, ProxySecret string
	// SignIns limits failed sign-ins per client address (zero fields: DefaultSignIns').
	SignIns RateLimit
	// PageSize is the rows per queue group and list page (default 50).
	PageSize int
}

// Console defaults.
const (
	DefaultConsoleSessionTTL = 8 * time.Hour
	DefaultSignInsBurst      = 10
	DefaultSignInsEvery      = 10 * time.Second
	defaultConsolePageSize   = 50
)

func (c *Console) check() error {
	if c.Engine == nil {
		return errors.New("api: Console.Engine is required")
	}
	if (c.ProxyUserHeader == "") != (c.ProxySecret == "") {
		return errors.New("api: Console.ProxyUserHeader and Console.ProxySecret go together")
	}
	if c.ProxyUserHeader != "" && http.CanonicalHeaderKey(c.ProxyUserHeader) == http.CanonicalHeaderKey(ActorHeader) {
		return fmt.Errorf("api: Console.ProxyUserHeader cannot be %s", ActorHeader)
	}
	if c.Namespace == "" {
		c.Namespace = "default"
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = DefaultConsoleSessionTTL
	}
	if c.SignIns.Burst <= 0 {
		c.SignIns.Burst = DefaultSignInsBurst
	}
	if c.SignIns.Every <= 0 {
		c.SignIns.Every = DefaultSignInsEvery
	}
	if c.PageSize <= 0 {
		c.PageSize = defaultConsolePageSize
	}
	c.TemporalUIURL = strings.TrimRight(c.TemporalUIURL, "/")
	return nil
}

//go:embed console
var consoleFiles embed.FS

// console serves the console's routes.
type console struct {
	srv   *server
	cfg   Console
	keys  sessionKeys
	pages map[string]*template.Template
	// signIns counts failed sign-ins per client address.
	signIns *userLimiter
}

// mountConsole adds the console's routes.
func (s *server) mountConsole(r *gin.Engine, cfg Console) error {
	if err := cfg.check(); err != nil {
		return err
	}
	pages, err := parseConsolePages()
	if err != nil {
		return err
	}
	h := &console{srv: s, cfg: cfg, keys: newSessionKeys(s.cfg.OperatorToken, cfg.ProxySecret), pages: pages, signIns: newUserLimiter(cfg.SignIns)}
	static, err := fs.Sub(consoleFiles, "console/static")
	if err != nil {
		return err
	}
	r.GET("/console", func(c *gin.Context) { c.Redirect(http.StatusMovedPermanently, ConsolePath) })
	g := r.Group(ConsolePath, consoleHeaders)
	g.GET("static/*file", h.static(http.FS(static)))
	g.GET("signin", h.signInPage)
	g.POST("signin", h.sameOrigin, h.signIn)
	g.POST("signout", h.sameOrigin, h.requireSession, h.requireCSRF, h.signOut)
	in := g.Group("", h.requireSession)
	in.GET("", h.queue)
	in.GET("sessions", h.sessionsPage)
	order := in.Group("orders/:id", h.orderParam)
	order.GET("", h.orderPage)
	order.POST("schedule", h.sameOrigin, h.requireCSRF, h.schedule)
	order.POST("progress", h.sameOrigin, h.requireCSRF, h.progress)
	order.POST("deliver", h.sameOrigin, h.requireCSRF, h.deliver)
	return nil
}

// consoleCSP lets the pages load only the console's own script, styles and images, submit
// forms and make requests only to the console, and never be framed.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// consoleHeaders sets the console's security headers on every answer; nothing is cached
// but the static files.
func consoleHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", consoleCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cache-Control", "no-store") // the static files say otherwise
	c.Next()
}

// static serves the embedded CSS and script; they change only with the binary.
func (h *console) static(files http.FileSystem) gin.HandlerFunc {
	fsrv := http.StripPrefix(ConsolePath+"static", http.FileServer(files))
	return func(c *gin.Context) {
		name := c.Param("file")
		if name == "/" || strings.HasSuffix(name, "/") {
			h.errorPage(c, http.StatusNotFound, "No such file.")
			return
		}
		c.Header("Cache-Control", "public, max-age=3600")
		fsrv.ServeHTTP(c.Writer, c.Request)
	}
}

func parseConsolePages() (map[string]*template.Template, error) {
	layout, err := template.New("layout.html").Funcs(consoleFuncs).ParseFS(consoleFiles, "console/templates/layout.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(consoleFiles, "console/templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := n[strings.LastIndex(n, "/")+1:]
		if base == "layout.html" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(consoleFiles, n)
		if err != nil {
			return nil, err
		}
		pages[strings.TrimSuffix(base, ".html")] = t
	}
	return pages, nil
}

// pageData is what every page's layout shows.
type pageData struct {
	Title   string
	Actor   string // the signed-in operator ("" on the sign-in page)
	CSRF    string
	Nav     string // the active navigation entry
	Flash   string
	Content any
}

// render writes page with status; a template error is our bug: 500, logged.
func (h *console) render(c *gin.Context, status int, page string, d pageData) {
	if s, ok := consoleSession(c); ok {
		d.Actor, d.CSRF = s.Actor, h.keys.csrf(s)
	}
	var b bytes.Buffer
	if err := h.pages[page].ExecuteTemplate(&b, "layout.html", d); err != nil {
		LoggerFrom(c).Error("console: render "+page, "error", err.Error())
		c.Header("Cache-Control", "no-store")
		c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("internal error"))
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(status, "text/html; charset=utf-8", b.Bytes())
}

// errorPage answers an error as a page of the console.
func (h *console) errorPage(c *gin.Context, status int, message string) {
	h.render(c, status, "error", pageData{Title: http.StatusText(status), Content: message})
	c.Abort()
}

// engineFailure answers an engine error on a console page: 404, 503 or 500.
func (h *console) engineFailure(c *gin.Context, what string, err error) {
	_ = c.Error(err)
	switch {
	case errors.Is(err, starter.ErrNotFound):
		h.errorPage(c, http.StatusNotFound, what+" was not found.")
	case errors.Is(err, starter.ErrBadFilter):
		h.errorPage(c, http.StatusBadRequest, strings.TrimPrefix(err.Error(), starter.ErrBadFilter.Error()+": "))
	case errors.Is(err, starter.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		c.Header("Retry-After", retryAfterSeconds)
		h.errorPage(c, http.StatusServiceUnavailable, "The workflow engine is unavailable; try again shortly.")
	default:
		h.errorPage(c, http.StatusInternalServerError, "Something went wrong reading "+what+"; the request id is in the X-Request-Id header.")
	}
}

// temporalLink is the Temporal Web UI's page of a workflow run ("" without a UI URL).
func (h *console) temporalLink(workflowID, runID string) string {
	if h.cfg.TemporalUIURL == "" {
		return ""
	}
	u := h.cfg.TemporalUIURL + "/namespaces/" + url.PathEscape(h.cfg.Namespace) + "/workflows/" + url.PathEscape(workflowID)
	if runID != "" {
		u += "/" + url.PathEscape(runID) + "/history"
	}
	return u
}

// stageTitle says a stage in an operator's words.
func stageTitle(stage string) string {
	switch stage {
	case workflows.StageAwaitSchedule:
		return "Schedule the inspection"
	case workflows.StageAwaitReport:
		return "Deliver the report"
	case workflows.StageInputRequired:
		return "Waiting for the lender's input"
	case workflows.StageCompleted:
		return "Completed"
	case workflows.StageFailed:
		return "Failed"
	case workflows.StageCanceled:
		return "Canceled by the lender"
	case workflows.StageClosedByOthers:
		return "Closed elsewhere"
	case "":
		return "Received"
	}
	return "epcflow is working (" + stage + ")"
}
