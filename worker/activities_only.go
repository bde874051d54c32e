package worker

import "go.temporal.io/sdk/workflow"

// ActivitiesOnly lets Register fill a registry that runs activities but no workflows (the
// SDK's activity test environment): the workflows are dropped, the activities taken.
func ActivitiesOnly(r ActivityRegistry) WorkflowRegistry { return activitiesOnly{r} }

type activitiesOnly struct{ ActivityRegistry }

func (activitiesOnly) RegisterWorkflowWithOptions(any, workflow.RegisterOptions) {}
