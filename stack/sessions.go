package stack

import (
	"errors"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/client"

	"github.com/epcflow/epcflow/api"
	"github.com/epcflow/epcflow/internal/traced"
	"github.com/epcflow/epcflow/portal"
	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/starter"
)

// SessionsConfig configures the hosted-session routes of the API.
type SessionsConfig struct {
	Temporal client.Client
	Portal   *portal.Store
	// PortalSecret derives the portal's invitation links; required with the Delivery Room
	// endpoints.
	PortalSecret *portal.Secret
	// PortalSessionTTL is how long a portal session lasts (zero: api.DefaultSessionTTL).
	PortalSessionTTL time.Duration
	// PublicURL is the API's base URL as consumers and callers reach it (portal links,
	// Inbank callbacks).
	PublicURL string
	// POS Framework: its base URL and our signing identity (one secret both ways, [ours]).
	POSBaseURL, POSSubscriptionID, POSKeyID, POSSecret string
	// POSScheme is how POS Framework requests are signed (the zero value: pos.DefaultScheme()).
	POSScheme pos.Scheme
	// PackageExpiresAfter is how long package workflows track their recipients (zero: the
	// workflow's default).
	PackageExpiresAfter time.Duration
	// InbankAPIKey verifies Inbank callbacks; empty leaves payment sessions out.
	InbankAPIKey string
	// Tracer, when set, traces the Delivery Room calls.
	Tracer trace.TracerProvider
}

// deliveryRoomHTTPClient is nil (the client's default, http.DefaultClient) untraced.
func deliveryRoomHTTPClient(tp trace.TracerProvider) *http.Client {
	if tp == nil {
		return nil
	}
	return traced.Client(tp, 0) // as http.DefaultClient: the caller's context bounds the call
}

// SessionRoutes configures the API's delivery routes (/v1/packages, the portal) and payment
// routes (/v1/payment-sessions, /webhooks/inbank). A flow whose configuration is missing is
// left out (nil).
func SessionRoutes(cfg SessionsConfig) (*api.Delivery, *api.Payments, error) {
	var delivery *api.Delivery
	if cfg.POSSecret != "" {
		if cfg.Portal == nil {
			return nil, nil, errors.New("stack: the Delivery Room endpoints need a portal database")
		}
		if cfg.PortalSecret == nil {
			return nil, nil, errors.New("stack: the Delivery Room endpoints need a portal secret (EPCFLOW_PORTAL_SECRET)")
		}
		signer, err := pos.NewSigner("", cfg.POSSubscriptionID, cfg.POSKeyID, cfg.POSSecret)
		if err == nil && cfg.POSScheme != (pos.Scheme{}) {
			signer, err = signer.WithScheme(cfg.POSScheme)
		}
		if err != nil {
			return nil, nil, err
		}
		delivery = &api.Delivery{
			Verifier: signer.Verifier(), Portal: cfg.Portal, Engine: starter.New(cfg.Temporal), PortalBaseURL: cfg.PublicURL,
			DeliveryRoom: &pos.DeliveryRoomClient{BaseURL: cfg.POSBaseURL, Signer: signer, HTTPClient: deliveryRoomHTTPClient(cfg.Tracer)}, ExpiresAfter: cfg.PackageExpiresAfter,
			Secret: cfg.PortalSecret, SessionTTL: cfg.PortalSessionTTL,
		}
	}
	var payments *api.Payments
	if cfg.InbankAPIKey != "" {
		payments = &api.Payments{Engine: starter.New(cfg.Temporal), APIKey: cfg.InbankAPIKey, CallbackBaseURL: cfg.PublicURL}
	}
	return delivery, payments, nil
}
