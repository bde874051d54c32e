package delivery

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

func testInput() PackageInput {
	return PackageInput{
		Key: "inst/loans/loan-1/pkg-1", InstanceID: "inst", GroupNamespace: "loans", GroupID: "loan-1", PackageID: "pkg-1",
		Recipients: []PackageRecipient{{RecipientID: "r1", Role: "borrower"}, {RecipientID: "r2", Role: "co-borrower"}},
	}
}

func newEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(PackageDelivery, workflow.RegisterOptions{Name: PackageWorkflowName})
	return env
}

func queryStatus(t *testing.T, env *testsuite.TestWorkflowEnvironment) PackageStatus {
	t.Helper()
	v, err := env.QueryWorkflow(QueryStatus)
	require.NoError(t, err)
	var st PackageStatus
	require.NoError(t, v.Get(&st))
	return st
}

func TestPackageDelivery(t *testing.T) {
	type open struct {
		after time.Duration
		sig   OpenedSignal
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
			opens:     []open{{time.Hour, OpenedSignal{"r1", "u1"}}, {2 * time.Hour, OpenedSignal{"r2", "u2"}}},
			wantUsers: map[string]string{"r1": "u1", "r2": "u2"},
		},
		{
			name:        "one open: expires",
			expires:     24 * time.Hour,
			opens:       []open{{time.Hour, OpenedSignal{"r1", "u1"}}},
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
				{time.Hour, OpenedSignal{"r1", "u1"}},
				{2 * time.Hour, OpenedSignal{"r1", "u1"}},
				{3 * time.Hour, OpenedSignal{"r1", "u-other"}},
				{4 * time.Hour, OpenedSignal{"nobody", "u3"}},
				{5 * time.Hour, OpenedSignal{"r2", "u2"}},
			},
			wantUsers: map[string]string{"r1": "u1", "r2": "u2"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t)
			start := env.Now()
			for _, o := range tc.opens {
				env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalRecipientOpened, o.sig) }, o.after)
			}
			in := testInput()
			in.ExpiresAfter = tc.expires
			env.ExecuteWorkflow(PackageWorkflowName, in)
			require.True(t, env.IsWorkflowCompleted())
			require.NoError(t, env.GetWorkflowError())
			var res PackageStatus
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
				wantExpiry = DefaultExpiresAfter
			}
			if tc.wantExpired {
				require.Equal(t, wantExpiry, env.Now().Sub(start))
			}
		})
	}
}

func TestPackageDeliveryQuery(t *testing.T) {
	env := newEnv(t)
	var mid PackageStatus
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalRecipientOpened, OpenedSignal{"r2", "u2"}) }, time.Hour)
	env.RegisterDelayedCallback(func() { mid = queryStatus(t, env) }, 2*time.Hour)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalRecipientOpened, OpenedSignal{"r1", "u1"}) }, 3*time.Hour)
	start := env.Now()
	env.ExecuteWorkflow(PackageWorkflowName, testInput())
	require.NoError(t, env.GetWorkflowError())

	require.False(t, mid.Expired)
	require.Len(t, mid.Recipients, 2)
	require.Equal(t, RecipientStatus{RecipientID: "r1", Role: "borrower"}, mid.Recipients[0])
	r2 := mid.Recipients[1]
	require.True(t, r2.Opened)
	require.Equal(t, "u2", r2.UserID)
	require.NotNil(t, r2.OpenedAt)
	require.Equal(t, start.Add(time.Hour).UTC(), r2.OpenedAt.UTC())
	require.False(t, mid.AllOpened())

	final := queryStatus(t, env)
	require.True(t, final.AllOpened())
	require.False(t, final.Expired)
}

// TestPackageWorkflowID: a key within Temporal's workflow id limit is kept as it is (running
// packages keep their ids); a longer one, which valid events can have, becomes its hash.
func TestPackageWorkflowID(t *testing.T) {
	require.Equal(t, "pos-package-inst/loans/loan-1/pkg-1", PackageWorkflowID("inst/loans/loan-1/pkg-1"))
	long := strings.Repeat("%C3%A9", 170) + "/loans/g/p"
	other := strings.Repeat("%C3%A9", 170) + "/loans/g/q"
	id := PackageWorkflowID(long)
	require.LessOrEqual(t, len(id), maxWorkflowIDBytes)
	require.Equal(t, id, PackageWorkflowID(long))
	require.NotEqual(t, id, PackageWorkflowID(other))
	require.Regexp(t, `^pos-package-sha256-[0-9a-f]{64}$`, id)
}
