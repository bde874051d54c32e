package worker_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/mocks"
	"go.temporal.io/sdk/workflow"

	"github.com/epcflow/epcflow/worker"
	"github.com/epcflow/epcflow/workflows"
)

// recorder is a registry that keeps the names it is given.
type recorder struct{ workflows, activities []string }

func (r *recorder) RegisterWorkflowWithOptions(_ any, o workflow.RegisterOptions) {
	r.workflows = append(r.workflows, o.Name)
}

func (r *recorder) RegisterActivityWithOptions(_ any, o activity.RegisterOptions) {
	r.activities = append(r.activities, o.Name)
}

// workflowsOnly is a registry that takes no activities, as a replayer.
type workflowsOnly struct{ names []string }

func (r *workflowsOnly) RegisterWorkflowWithOptions(_ any, o workflow.RegisterOptions) {
	r.names = append(r.names, o.Name)
}

// TestRegisterIsTheWholeList: every workflow type is registered under its name, and every
// activity type any recorded history schedules is registered too.
func TestRegisterIsTheWholeList(t *testing.T) {
	var r recorder
	worker.Register(&r, worker.Deps{})
	require.ElementsMatch(t, workflows.WorkflowNames(), r.workflows)

	recorded := map[string]bool{}
	activityType := regexp.MustCompile(`"activityType":\s*\{\s*"name":\s*"([^"]+)"`)
	err := filepath.WalkDir(filepath.Join("..", "workflows", "testdata", "histories"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".json" {
			return err
		}
		b, err := os.ReadFile(path)
		for _, m := range activityType.FindAllSubmatch(b, -1) {
			recorded[string(m[1])] = true
		}
		return err
	})
	require.NoError(t, err)
	require.NotEmpty(t, recorded)
	for name := range recorded {
		require.True(t, slices.Contains(r.activities, name), "activity %s is in a recorded history but not registered", name)
	}

	var replayer workflowsOnly
	worker.Register(&replayer, worker.Deps{})
	require.ElementsMatch(t, workflows.WorkflowNames(), replayer.names)
}

func TestNewNeedsItsParts(t *testing.T) {
	_, err := worker.New(&mocks.Client{}, worker.Deps{}, worker.Options{})
	require.ErrorContains(t, err, "activities are required")
}
