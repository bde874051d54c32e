package workflows_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/epcflow/epcflow/worker"
	"github.com/epcflow/epcflow/workflows"
)

func packageInput() workflows.PackageInput {
	return workflows.PackageInput{
		Key: "inst/loans/loan-1/pkg-1", InstanceID: "inst", GroupNamespace: "loans", GroupID: "loan-1", PackageID: "pkg-1",
		Recipients: []workflows.PackageRecipient{{RecipientID: "r1", Role: "borrower"}, {RecipientID: "r2", Role: "co-borrower"}},
	}
}

func newPackageEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestWorkflowEnvironment()
	worker.Register(env, worker.Deps{})
	return env
}

func queryPackage(t *testing.T, env *testsuite.TestWorkflowEnvironment) workflows.PackageStatus {
	t.Helper()
	v, err := env.QueryWorkflow(workflows.QueryStatus)
	require.NoError(t, err)
	var st workflows.PackageStatus
	require.NoError(t, v.Get(&st))
	return st
}

func TestPackageDelivery(t *testing.T) {
	type open struct {
		after time.Duration
		sig   workflows.RecipientOpened
	}
	tests := []struct {
		name        string
		expires     time.Duration
		opens       []open
		wantExpired bool
		wantUsers   map[string]string // recipient → user who opened it
	}{
		{
			name:      "all open: completes before expiry",
			opens:     []open{{time.Hour, workflows.RecipientOpened{"r1", "u1"}}, {2 * time.Hour, workflows.RecipientOpened{"r2", "u2"}}},
			wantUsers: map[string]string{"r1": "u1", "r2": "u2"},
		},
		{
			name:        "one open: expires",
			expires:     24 * time.Hour,
			opens:       []open{{time.Hour, workflows.RecipientOpened{"r1", "u1"}}},
			wantExpired: true,
			wantUsers:   map[string]string{"r1": "u1"},
		},
		{
			name:        "none open: expires after the default 30 days",
			wantExpired: true,
			wantUsers:   map[string]string{},
		},
		{
			name: "duplicate and unknown signals change nothing; the first open counts",
			opens: []open{
				{time.Hour, workflows.RecipientOpened{"r1", "u1"}},
				{2 * time.Hour, workflows.RecipientOpened{"r1", "u1"}},
				{3 * time.Hour, workflows.RecipientOpened{"r1", "u-other"}},
				{4 * time.Hour, workflows.RecipientOpened{"nobody", "u3"}},
				{5 * time.Hour, workflows.RecipientOpened{"r2", "u2"}},
			},
			wantUsers: map[string]string{"r1": "u1", "r2": "u2"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newPackageEnv(t)
			start := env.Now()
			for _, o := range tc.opens {
				env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.SignalRecipientOpened, o.sig) }, o.after)
			}
			in := packageInput()
			in.ExpiresAfter = tc.expires
			env.ExecuteWorkflow(workflows.PackageWorkflowName, in)
			require.True(t, env.IsWorkflowCompleted())
			require.NoError(t, env.GetWorkflowError())
			var res workflows.PackageStatus
			require.NoError(t, env.GetWorkflowResult(&res))
			require.Equal(t, tc.wantExpired, res.Expired)
			got := map[string]string{}
			for _, r := range res.Recipients {
				require.Equal(t, r.Opened, r.UserID != "", "recipient %s", r.RecipientID)
				require.Equal(t, r.Opened, r.OpenedAt != nil, "recipient %s", r.RecipientID)
				if r.Opened {
					got[r.RecipientID] = r.UserID
				}
			}
			require.Equal(t, tc.wantUsers, got)
			wantExpiry := tc.expires
			if wantExpiry == 0 {
				wantExpiry = workflows.DefaultExpiresAfter
			}
			if tc.wantExpired {
				require.Equal(t, wantExpiry, env.Now().Sub(start))
			}
		})
	}
}

func TestPackageDeliveryQuery(t *testing.T) {
	env := newPackageEnv(t)
	var mid workflows.PackageStatus
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.SignalRecipientOpened, workflows.RecipientOpened{"r2", "u2"}) }, time.Hour)
	env.RegisterDelayedCallback(func() { mid = queryPackage(t, env) }, 2*time.Hour)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.SignalRecipientOpened, workflows.RecipientOpened{"r1", "u1"}) }, 3*time.Hour)
	start := env.Now()
	env.ExecuteWorkflow(workflows.PackageWorkflowName, packageInput())
	require.NoError(t, env.GetWorkflowError())

	require.False(t, mid.Expired)
	require.Len(t, mid.Recipients, 2)
	require.Equal(t, workflows.RecipientStatus{RecipientID: "r1", Role: "borrower"}, mid.Recipients[0])
	r2 := mid.Recipients[1]
	require.True(t, r2.Opened)
	require.Equal(t, "u2", r2.UserID)
	require.NotNil(t, r2.OpenedAt)
	require.Equal(t, start.Add(time.Hour).UTC(), r2.OpenedAt.UTC())
	require.False(t, mid.AllOpened())

	final := queryPackage(t, env)
	require.True(t, final.AllOpened())
	require.False(t, final.Expired)
}

// TestPackageWorkflowID: a key within Temporal's workflow id limit is kept as it is (running
// packages keep their ids); a longer one, which valid events can have, becomes its hash.
func TestPackageWorkflowID(t *testing.T) {
	require.Equal(t, "pos-package-inst/loans/loan-1/pkg-1", workflows.PackageWorkflowID("inst/loans/loan-1/pkg-1"))
	long := strings.Repeat("%C3%A9", 170) + "/loans/g/p"
	other := strings.Repeat("%C3%A9", 170) + "/loans/g/q"
	id := workflows.PackageWorkflowID(long)
	require.LessOrEqual(t, len(id), 1000, "the Temporal server's default limit.maxIDLength")
	require.Equal(t, id, workflows.PackageWorkflowID(long))
	require.NotEqual(t, id, workflows.PackageWorkflowID(other))
	require.Regexp(t, `^pos-package-sha256-[0-9a-f]{64}$`, id)
}
