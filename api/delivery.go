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
// portal that leads each recipient into the ICE Delivery Room (portal.go, portal_home.go).
//
//	POST /v1/packages                                              signed package event → 200 per-recipient e-mail and portal link
//	GET  /portal/signin?token=…&next=…                             invitation link → fresh session cookie, redirect
//	GET  /portal/                                                  the signed-in user's packages
//	GET  /portal/packages/{packageId}/recipients/{recipientId}/open  → redirect into the Delivery Room (the invited user only)
//	POST /portal/signout                                           ends the session

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
	// Secret derives each invitation link's token from the invitation's id, so no usable
	// token is stored and a resent event answers the same link.
	Secret *portal.Secret
	// InvitationTTL is how long invitation links sign in; zero means DefaultInvitationTTL.
	InvitationTTL time.Duration
	// SessionTTL is how long a portal session (the cookie) lasts; zero means
	// DefaultSessionTTL.
	SessionTTL time.Duration
	// RefusedOpens limits each portal user's refused opens (see RateLimit); zero fields mean
	// DefaultRefusedOpens'.
	RefusedOpens RateLimit
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
	if d.Secret == nil {
		missing = append(missing, "Secret")
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
	cfg     Delivery
	base    string // PortalBaseURL without a trailing slash
	refused *userLimiter
}

// mountDelivery adds the package event and the portal routes, all public: the event is
// signed, the portal has its own sign-in.
func mountDelivery(r gin.IRoutes, cfg Delivery) error {
	if err := cfg.check(); err != nil {
		return err
	}
	if cfg.InvitationTTL <= 0 {
		cfg.InvitationTTL = DefaultInvitationTTL
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	h := &deliveryRoutes{cfg: cfg, base: strings.TrimRight(cfg.PortalBaseURL, "/"), refused: newUserLimiter(cfg.RefusedOpens)}
	r.POST(PackagesPath, h.postPackage)
	r.GET(SignInPath, h.signIn)
	r.GET(HomePath, h.home)
	r.GET(OpenPath, h.open)
	r.POST(SignOutPath, h.signOut)
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

	if rec, err := h.cfg.Portal.PackageRecord(ctx, key); err == nil {
		log.Info("package event resent: answering the stored answer")
		c.Data(http.StatusOK, "application/json; charset=utf-8", rec.AnswerWithLinks(h.cfg.Secret))
		return
	} else if !errors.Is(err, portal.ErrNotFound) {
		packageUnavailable(c, log, "read answer", err)
		return
	}
	rec, in, err := h.answer(ctx, ev)
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
	stored, first, err := h.cfg.Portal.SavePackage(ctx, rec)
	if err != nil {
		packageUnavailable(c, log, "save answer", err)
		return
	}
	log.Info("package event answered", slog.Int("recipients", len(ev.Recipients)), slog.Bool("first", first))
	c.Data(http.StatusOK, "application/json; charset=utf-8", stored.AnswerWithLinks(h.cfg.Secret))
}

// answer gives every recipient a portal user (matched by the event's e-mail, normalised) and
// an invitation for that user alone, and returns what to store (the answer to the platform
// with the links sealed) and the workflow's input.
func (h *deliveryRoutes) answer(ctx context.Context, ev pos.PackageEvent) (portal.PackageRecord, workflows.PackageInput, error) {
	key := ev.Key()
	now := time.Now().UTC()
	answer := pos.PackageAnswer{Recipients: make([]pos.RecipientAnswer, 0, len(ev.Recipients))}
	rec := portal.PackageRecord{Package: portal.Package{Key: key, PackageID: ev.PackageID, InstanceID: ev.InstanceID,
		GroupNamespace: ev.GroupNamespace, GroupID: ev.GroupID, RecipientIDs: make([]string, len(ev.Recipients))}}
	in := workflows.PackageInput{Key: key, InstanceID: ev.InstanceID, GroupNamespace: ev.GroupNamespace, GroupID: ev.GroupID,
		PackageID: ev.PackageID, Recipients: make([]workflows.PackageRecipient, len(ev.Recipients)), ExpiresAfter: h.cfg.ExpiresAfter}
	for i, r := range ev.Recipients {
		rec.Package.RecipientIDs[i] = r.RecipientID
		in.Recipients[i] = workflows.PackageRecipient{RecipientID: r.RecipientID, Role: r.Role}
		u, _, err := h.cfg.Portal.ResolveUser(ctx, r.Email, r.FirstName, r.LastName)
		if err != nil {
			return rec, in, fmt.Errorf("resolve user: %w", err)
		}
		inv := portal.Invitation{ID: portal.NewInvitationID(), PackageKey: key, RecipientID: r.RecipientID, Role: r.Role,
			UserID: u.ID, Created: now, Expires: now.Add(h.cfg.InvitationTTL)}
		rec.Invitations = append(rec.Invitations, inv)
		link := SignInURL(h.base, h.cfg.Secret.InvitationToken(inv.ID), OpenURLPath(ev.PackageID, r.RecipientID))
		answer.Recipients = append(answer.Recipients, pos.RecipientAnswer{
			RecipientID: r.RecipientID, EmailHTML: emailHTML(r, link), PortalURL: link})
	}
	raw, err := json.Marshal(answer)
	if err != nil {
		return rec, in, fmt.Errorf("encode answer: %w", err)
	}
	rec.Answer = portal.SealAnswer(raw, rec.Invitations, h.cfg.Secret)
	return rec, in, nil
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
