// Package worker builds epcflow's Temporal worker: it registers the workflows and activities
// on the task queue with their options.
package worker

import (
	"errors"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/epcflow/epcflow/activities"
	"github.com/epcflow/epcflow/workflows"
)

// Options tune the worker.
type Options struct {
	TaskQueue string // default workflows.TaskQueue
	// MaxConcurrentActivities bounds activities in flight (default 200: they mostly wait on HTTP).
	MaxConcurrentActivities int
	// MaxConcurrentWorkflowTasks bounds workflow tasks in flight (default 100).
	MaxConcurrentWorkflowTasks int
	// Engine holds the products; default workflows.NewEngine().
	Engine *workflows.Engine
}

// New builds a worker for c with every workflow and the given activities registered.
func New(c client.Client, acts *activities.Activities, opts Options) (sdkworker.Worker, error) {
	if c == nil || acts == nil {
		return nil, errors.New("worker: client and activities are required")
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
	if opts.Engine == nil {
		opts.Engine = workflows.NewEngine()
	}
	w := sdkworker.New(c, opts.TaskQueue, sdkworker.Options{
		MaxConcurrentActivityExecutionSize:     opts.MaxConcurrentActivities,
		MaxConcurrentWorkflowTaskExecutionSize: opts.MaxConcurrentWorkflowTasks,
	})
	Register(w, opts.Engine, acts)
	return w, nil
}

// Register puts epcflow's workflows and activities on a registry (a worker, or a replayer's
// or test environment's).
func Register(r interface {
	RegisterWorkflowWithOptions(w interface{}, options workflow.RegisterOptions)
	RegisterActivityWithOptions(a interface{}, options activity.RegisterOptions)
}, engine *workflows.Engine, acts *activities.Activities) {
	r.RegisterWorkflowWithOptions(engine.Transaction, workflow.RegisterOptions{Name: workflows.TransactionWorkflowName})
	r.RegisterActivityWithOptions(acts, activity.RegisterOptions{})
}
