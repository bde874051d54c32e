package stack

import (
	"errors"
	"log/slog"

	"github.com/gin-gonic/gin"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/epcflow/epcflow/activities"
	"github.com/epcflow/epcflow/api"
	"github.com/epcflow/epcflow/delivery"
	"github.com/epcflow/epcflow/portal"
	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/starter"
	"github.com/epcflow/epcflow/workflows"
)

// RegisterSessions puts the hosted-session workflows (Delivery Room packages, Inbank payment
// sessions) and their activities on a worker. A nil Inbank client leaves payments out.
func RegisterSessions(w sdkworker.Worker, inbank *pos.InbankClient) {
	w.RegisterWorkflowWithOptions(delivery.PackageDelivery, workflow.RegisterOptions{Name: delivery.PackageWorkflowName})
	if inbank != nil {
		p := &activities.Payment{Inbank: inbank}
		w.RegisterWorkflowWithOptions(workflows.PaymentSession, workflow.RegisterOptions{Name: workflows.PaymentWorkflowName})
		w.RegisterActivityWithOptions(p.CreateSession, activity.RegisterOptions{Name: workflows.ActivityInbankCreateSession})
		w.RegisterActivityWithOptions(p.GetSession, activity.RegisterOptions{Name: workflows.ActivityInbankGetSession})
	}
}

// SessionsConfig configures the hosted-session endpoints of the API.
type SessionsConfig struct {
	Temporal client.Client
	Portal   *portal.Store
	// PublicURL is the API's base URL as consumers and callers reach it (portal links,
	// Inbank callbacks).
	PublicURL string
	// POS Framework: its base URL and our signing identity (one secret both ways, [ours]).
	POSBaseURL, POSSubscriptionID, POSKeyID, POSSecret string
	// InbankAPIKey verifies Inbank callbacks; empty leaves payment sessions out.
	InbankAPIKey string
	Logger       *slog.Logger
}

// SessionMounts returns the API mounts for /v1/packages and the portal, and the payment
// routes' configuration. A part whose configuration is missing is left out (nil).
func SessionMounts(cfg SessionsConfig) ([]func(public, operator gin.IRoutes) error, *api.Payments, error) {
	var mounts []func(public, operator gin.IRoutes) error
	if cfg.POSSecret != "" {
		if cfg.Portal == nil {
			return nil, nil, errors.New("stack: the Delivery Room endpoints need a portal database")
		}
		signer, err := pos.NewSigner("", cfg.POSSubscriptionID, cfg.POSKeyID, cfg.POSSecret)
		if err != nil {
			return nil, nil, err
		}
		dc := delivery.Config{
			Verifier: signer.Verifier(), Portal: cfg.Portal, Temporal: cfg.Temporal, TaskQueue: workflows.TaskQueue,
			PortalBaseURL: cfg.PublicURL, DeliveryRoom: &pos.DeliveryRoomClient{BaseURL: cfg.POSBaseURL, Signer: signer}, Logger: cfg.Logger,
		}
		mounts = append(mounts, func(public, _ gin.IRoutes) error { return delivery.Register(public, dc) })
	}
	var pay *api.Payments
	if cfg.InbankAPIKey != "" {
		pay = &api.Payments{Engine: starter.New(cfg.Temporal), APIKey: cfg.InbankAPIKey, CallbackBaseURL: cfg.PublicURL}
	}
	return mounts, pay, nil
}
