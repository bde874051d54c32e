// Package starter is the client side of epcflow's workflows: every Temporal client call the
// API and the CLI make (start, signal, query, update), one file per flow. Neither talks to
// EPC, the POS Framework or Inbank directly.
package starter

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/epcflow/epcflow/workflows"
)

// Errors callers branch on (with errors.Is).
var (
	// ErrNotFound: no such workflow (or, for a signal or update, none running).
	ErrNotFound = errors.New("transaction not found")
	// ErrRejected: the workflow refused the action (the message says why).
	ErrRejected = errors.New("action rejected")
	// ErrUnavailable: Temporal cannot be reached now; try again later.
	ErrUnavailable = errors.New("temporal unavailable")
	// ErrClosed: the workflow has finished and is not started again under its id (for a
	// transaction: the webhook needs no work).
	ErrClosed = errors.New("transaction workflow already closed")
	// ErrNotNeeded: the webhook was not handed to its running order, which would learn
	// nothing from it (workflows.WebhookNeeded): the webhook needs no work.
	ErrNotNeeded = errors.New("webhook not needed by its order")
)

// Starter drives epcflow's workflows through a Temporal client.
type Starter struct {
	Client    client.Client
	TaskQueue string
}

// New returns a Starter on the default task queue.
func New(c client.Client) *Starter { return &Starter{Client: c, TaskQueue: workflows.TaskQueue} }

// classify maps Temporal client errors onto this package's sentinels, keeping the cause.
func classify(err error) error {
	var (
		notFound *serviceerror.NotFound
		started  *serviceerror.WorkflowExecutionAlreadyStarted
		unavail  *serviceerror.Unavailable
		deadline *serviceerror.DeadlineExceeded
		app      *temporal.ApplicationError
	)
	switch {
	case errors.As(err, &started):
		return fmt.Errorf("%w: %v", ErrClosed, err)
	case errors.As(err, &notFound):
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	case errors.As(err, &app):
		return fmt.Errorf("%w: %s", ErrRejected, app.Message())
	case errors.As(err, &unavail), errors.As(err, &deadline), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	var failed *serviceerror.FailedPrecondition
	if errors.As(err, &failed) {
		return fmt.Errorf("%w: %v", ErrRejected, err)
	}
	return err
}

// CheckHealth reports whether Temporal answers (the API's /readyz).
func (s *Starter) CheckHealth(ctx context.Context) error {
	_, err := s.Client.CheckHealth(ctx, &client.CheckHealthRequest{})
	return err
}

// mark adds this package's sentinel to err and keeps err itself, so a caller can still read
// an application error's type and details (errors.As).
func mark(err error) error {
	var (
		notFound *serviceerror.NotFound
		started  *serviceerror.WorkflowExecutionAlreadyStarted
		unavail  *serviceerror.Unavailable
	)
	switch {
	case errors.As(err, &started):
		return fmt.Errorf("%w: %w", ErrClosed, err)
	case errors.As(err, &notFound):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.As(err, &unavail):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}
