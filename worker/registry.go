package worker

import (
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/workflow"

	"github.com/epcflow/epcflow/activities"
	"github.com/epcflow/epcflow/workflows"
)

// Deps is what the registered code runs with: the transaction workflow's products and every
// flow's activities.
type Deps struct {
	// Engine holds the transaction workflow's products; nil: workflows.NewEngine().
	Engine *workflows.Engine
	// Transaction and Payment carry the flows' activities. Nil registers empty ones, for
	// tests that mock every activity; New requires both.
	Transaction *activities.Transaction
	Payment     *activities.Payment
}

// WorkflowRegistry takes workflows: a worker, a replayer, a workflow test environment.
type WorkflowRegistry interface {
	RegisterWorkflowWithOptions(w any, options workflow.RegisterOptions)
}

// ActivityRegistry takes activities: a worker, a workflow test environment.
type ActivityRegistry interface {
	RegisterActivityWithOptions(a any, options activity.RegisterOptions)
}

// Register is the one list of what epcflow runs: it puts every workflow on r under its name
// from workflows/names.go and, when r also takes activities (a worker or a workflow test
// environment; a replayer runs none), every activity. Everything that runs epcflow's
// workflows uses it: the worker command, dev, replay, the chaos and benchmark workers, the
// tests.
func Register(r WorkflowRegistry, d Deps) {
	if d.Engine == nil {
		d.Engine = workflows.NewEngine()
	}
	r.RegisterWorkflowWithOptions(d.Engine.Transaction, workflow.RegisterOptions{Name: workflows.TransactionWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.PackageDelivery, workflow.RegisterOptions{Name: workflows.PackageWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.PaymentSession, workflow.RegisterOptions{Name: workflows.PaymentWorkflowName})

	ar, ok := r.(ActivityRegistry)
	if !ok {
		return
	}
	tx, pay := d.Transaction, d.Payment
	if tx == nil {
		tx = &activities.Transaction{}
	}
	if pay == nil {
		pay = &activities.Payment{}
	}
	for name, fn := range map[string]any{
		workflows.ActivityPatchResponse:            tx.PatchResponse,
		workflows.ActivityGatherData:               tx.GatherData,
		workflows.ActivityInspectTransaction:       tx.InspectTransaction,
		workflows.ActivityReadEvent:                tx.ReadEvent,
		workflows.ActivityPostEvent:                tx.PostEvent,
		workflows.ActivitySendServiceEvents:        tx.SendServiceEvents,
		workflows.ActivityAwaitServiceOutcome:      tx.AwaitServiceOutcome,
		workflows.ActivityUploadFile:               tx.UploadFile,
		workflows.ActivityDetermineFlood:           tx.DetermineFlood,
		workflows.ActivityGenerateFloodCertificate: tx.GenerateFloodCertificate,
		workflows.ActivityReleaseInspection:        tx.ReleaseInspection,
		workflows.ActivityAcknowledgeAndGather:     tx.AcknowledgeAndGather,
		workflows.ActivitySendAndAwaitOutcome:      tx.SendAndAwaitServiceEvents,
		workflows.ActivityUploadAndComplete:        tx.UploadAndComplete,
		workflows.ActivityInbankCreateSession:      pay.CreateSession,
		workflows.ActivityInbankGetSession:         pay.GetSession,
	} {
		ar.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
}
