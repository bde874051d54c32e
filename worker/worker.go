// Package worker builds epcflow's Temporal worker. Its Register (registry.go) is the one
// place that registers epcflow's workflows and activities.
package worker

import (
	"errors"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/epcflow/epcflow/workflows"
)

// Options tune the worker.
type Options struct {
	TaskQueue string // default workflows.TaskQueue
	// MaxConcurrentActivities bounds activities in flight (default 200: they mostly wait on HTTP).
	MaxConcurrentActivities int
	// MaxConcurrentWorkflowTasks bounds workflow tasks in flight (default 100).
	MaxConcurrentWorkflowTasks int
}

// New builds a worker for c with every workflow and activity registered (Register).
func New(c client.Client, d Deps, opts Options) (sdkworker.Worker, error) {
	if c == nil || d.Transaction == nil || d.Payment == nil {
		return nil, errors.New("worker: a client and the transaction and payment activities are required")
	}
	if opts.TaskQueue == "" {
		opts.TaskQueue = workflows.TaskQueue
	}
	if opts.MaxConcurrentActivities == 0 {
		opts.MaxConcurrentActivities = 200
	}
	if opts.MaxConcurrentWorkflowTasks == 0 {
		opts.MaxConcurrentWorkflowTasks = 100
	}
	w := sdkworker.New(c, opts.TaskQueue, sdkworker.Options{
		MaxConcurrentActivityExecutionSize:     opts.MaxConcurrentActivities,
		MaxConcurrentWorkflowTaskExecutionSize: opts.MaxConcurrentWorkflowTasks,
	})
	Register(w, d)
	return w, nil
}
