package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/epcflow/epcflow/portal"
	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/schemas"
	"github.com/epcflow/epcflow/starter"
	"github.com/epcflow/epcflow/workflows"
)

// The delivery flow's routes: the POS Framework's Create Package Event (this file) and the
// portal that leads each recipient into the ICE Delivery Room (portal.go).
//
//	POST /v1/packages                                              signed package event → 200 per-recipient e-mail and portal link
//	GET  /portal/signin?token=…&next=…                             invitation link → cookie, redirect
//	GET  /portal/packages/{packageId}/recipients/{recipientId}/open  → redirect into the Delivery Room

// PackagesPath receives the POS Framework's Create Package Events.
const PackagesPath = "/v1/packages"

// maxEventBody bounds a Create Package Event body (100 recipients fit easily).
const maxEventBody = 1 << 20

// callTimeout bounds each outside call on the request path; the platform wants an answer to
// the package event within 1 s.
const callTimeout = 5 * time.Second

// PackageEngine runs package workflows; *starter.Starter satisfies it.
type PackageEngine interface {
	StartPackage(ctx context.Context, in workflows.PackageInput) error
	SignalPackageOpened(ctx context.Context, key string, sig workflows.RecipientOpened) error
}

var _ PackageEngine = (*starter.Starter)(nil)

// Delivery configures the delivery routes.
type Delivery struct {
	// Verifier checks the signature of Create Package Events.
	Verifier *pos.Verifier
	// Portal is the portal database: users, tokens, bindings, answers, packages.
	Portal *portal.Store
	// Engine starts and signals package workflows.
	Engine PackageEngine
	// PortalBaseURL is the API's public URL, the root of the portal links in e-mails.
	PortalBaseURL string
	// DeliveryRoom creates Delivery Room sessions.
	DeliveryRoom *pos.DeliveryRoomClient
	// TokenTTL is the life of invitation tokens; zero means DefaultTokenTTL.
	TokenTTL time.Duration
	// ExpiresAfter is how long package workflows track their recipients; zero means
	// workflows.DefaultExpiresAfter.
	ExpiresAfter time.Duration
}

func (d *Delivery) check() error {
	var missing []string
	if d.Verifier == nil {
		missing = append(missing, "Verifier")
	}
	if d.Portal == nil {
		missing = append(missing, "Portal")
	}
	if d.Engine == nil {
		missing = append(missing, "Engine")
	}
	if d.DeliveryRoom == nil {
		missing = append(missing, "DeliveryRoom")
	}
	if len(missing) > 0 {
		return fmt.Errorf("api: Delivery: %s required", strings.Join(missing, ", "))
	}
	u, err := url.Parse(d.PortalBaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("api: Delivery: PortalBaseURL must be an absolute http(s) URL")
	}
	return nil
}

type deliveryRoutes struct {
	cfg  Delivery
	base string // PortalBaseURL without a trailing slash
}

// mountDelivery adds the package event and the portal routes, all public: the event is
// signed, the portal has its own sign-in.
func mountDelivery(r gin.IRoutes, cfg Delivery) error {
	if err := cfg.check(); err != nil {
		return err
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	h := &deliveryRoutes{cfg: cfg, base: strings.TrimRight(cfg.PortalBaseURL, "/")}
	r.POST(PackagesPath, h.postPackage)
	r.GET(SignInPath, h.signIn)
	r.GET(OpenPath, h.open)
	return nil
}

// postPackage is the Create Package Event webhook: signature first, then the body, then the
// answer, stored once per package key.
func (h *deliveryRoutes) postPackage(c *gin.Context) {
	body, ok := readBody(c, maxEventBody)
	if !ok {
		return
	}
	if err := h.cfg.Verifier.Verify(c.Request.Header, body); err != nil {
		LoggerFrom(c).Warn("package event refused: signature", slog.String("error", err.Error()))
		abort(c, http.StatusUnauthorized, CodeBadSignature, strings.TrimPrefix(err.Error(), "pos: "))
		return
	}
	ev, err := pos.ParsePackageEvent(body)
	if err != nil {
		invalid(c, "invalid Create Package Event", schemas.Problems(err))
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), callTimeout)
	defer cancel()
	key := ev.Key()
	log := LoggerFrom(c).With(slog.String("package", ev.PackageID))

	if stored, err := h.cfg.Portal.Answer(ctx, key); err == nil {
		log.Info("package event resent: answering the stored answer")
		c.Data(http.StatusOK, "application/json; charset=utf-8", stored)
		return
	} else if !errors.Is(err, portal.ErrNotFound) {
		packageUnavailable(c, log, "read answer", err)
		return
	}
	answer, in, err := h.answer(ctx, ev)
	if err != nil {
		packageUnavailable(c, log, "answer", err)
		return
	}
	// The workflow starts before the answer is stored: once an answer is stored, a resend
	// starts nothing, so the workflow must already exist. A crash in between is healed by the
	// resend, which starts it again (already started is fine).
	if err := h.cfg.Engine.StartPackage(ctx, in); err != nil {
		packageUnavailable(c, log, "start workflow", err)
		return
	}
	raw, err := json.Marshal(answer)
	if err != nil {
		packageUnavailable(c, log, "encode answer", err)
		return
	}
	stored, first, err := h.cfg.Portal.SaveAnswer(ctx, key, raw)
	if err != nil {
		packageUnavailable(c, log, "save answer", err)
		return
	}
	log.Info("package event answered", slog.Int("recipients", len(ev.Recipients)), slog.Bool("first", first))
	c.Data(http.StatusOK, "application/json; charset=utf-8", stored)
}

// answer gives every recipient a portal user and an invitation, saves the package, and
// returns the answer to the platform and the workflow's input.
func (h *deliveryRoutes) answer(ctx context.Context, ev pos.PackageEvent) (pos.PackageAnswer, workflows.PackageInput, error) {
	key := ev.Key()
	answer := pos.PackageAnswer{Recipients: make([]pos.RecipientAnswer, 0, len(ev.Recipients))}
	ids := make([]string, len(ev.Recipients))
	in := workflows.PackageInput{Key: key, InstanceID: ev.InstanceID, GroupNamespace: ev.GroupNamespace, GroupID: ev.GroupID,
		PackageID: ev.PackageID, Recipients: make([]workflows.PackageRecipient, len(ev.Recipients)), ExpiresAfter: h.cfg.ExpiresAfter}
	for i, r := range ev.Recipients {
		ids[i] = r.RecipientID
		in.Recipients[i] = workflows.PackageRecipient{RecipientID: r.RecipientID, Role: r.Role}
		u, _, err := h.cfg.Portal.ResolveUser(ctx, r.Email, r.FirstName, r.LastName)
		if err != nil {
			return answer, in, fmt.Errorf("resolve user: %w", err)
		}
		tok, err := h.cfg.Portal.IssueToken(ctx, u.ID, h.cfg.TokenTTL)
		if err != nil {
			return answer, in, fmt.Errorf("issue token: %w", err)
		}
		link := SignInURL(h.base, tok, OpenURLPath(ev.PackageID, r.RecipientID))
		answer.Recipients = append(answer.Recipients, pos.RecipientAnswer{
			RecipientID: r.RecipientID, EmailHTML: emailHTML(r, link), PortalURL: link})
	}
	if err := h.cfg.Portal.SavePackage(ctx, key, ev.PackageID, ev.InstanceID, ev.GroupNamespace, ev.GroupID, ids); err != nil {
		return answer, in, fmt.Errorf("save package: %w", err)
	}
	return answer, in, nil
}

// packageUnavailable answers 503: the platform retries the event. The cause is logged, not
// sent.
func packageUnavailable(c *gin.Context, log *slog.Logger, what string, err error) {
	log.Error("package event failed", slog.String("step", what), slog.String("error", err.Error()))
	unavailable(c, "1", "the package could not be taken now; try again shortly")
}

// emailHTML is the invitation e-mail for a recipient; every value is escaped.
func emailHTML(r pos.Recipient, link string) string {
	return "<p>Hello " + html.EscapeString(r.FirstName) + " " + html.EscapeString(r.LastName) + ",</p>\n" +
		"<p>Documents for your loan are ready in the ICE Delivery Room.</p>\n" +
		`<p><a href="` + html.EscapeString(link) + `">Open your documents</a></p>` + "\n"
}
