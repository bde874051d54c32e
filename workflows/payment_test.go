package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/epcflow/epcflow/activities"
	"github.com/epcflow/epcflow/internal/testkit"
	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/worker"
	"github.com/epcflow/epcflow/workflows"
)

// fakeInbank is the session as Inbank would show it; tests move it with delayed callbacks.
type fakeInbank struct {
	mu         sync.Mutex
	status     pos.InbankStatus
	validUntil time.Time
	gets       int
}

func (f *fakeInbank) set(s pos.InbankStatus) { f.mu.Lock(); f.status = s; f.mu.Unlock() }

func (f *fakeInbank) get(_ context.Context, in activities.InbankGetInput) (pos.InbankSession, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets++
	return pos.InbankSession{UUID: in.POSSessionUUID, Status: f.status, ValidUntil: f.validUntil}, nil
}

func newPaymentEnv(t *testing.T) (*testsuite.TestWorkflowEnvironment, *fakeInbank) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	worker.Register(env, worker.Deps{})
	f := &fakeInbank{status: pos.StatusPending, validUntil: env.Now().Add(time.Hour)}
	env.OnActivity(workflows.ActivityInbankCreateSession, mock.Anything, mock.Anything).Return(
		activities.InbankCreated{POSSessionUUID: testkit.InbankPOSSession, RedirectURL: "https://inbank.test/pay/" + testkit.InbankPOSSession, Status: pos.StatusPending}, nil)
	env.OnActivity(workflows.ActivityInbankGetSession, mock.Anything, mock.Anything).Return(f.get)
	return env, f
}

func paymentInput(createOnStart bool) workflows.PaymentInput {
	return workflows.PaymentInput{ID: "11111111-2222-4333-8444-555555555555", ShopUUID: testkit.InbankShop,
		Request: json.RawMessage(`{"productCode":"smart_rent"}`), CreateOnStart: createOnStart}
}

// paymentStep moves Inbank to status (if any) at d and sends the callbacks claimed.
type paymentStep struct {
	at     time.Duration
	truth  pos.InbankStatus
	claims []pos.InbankStatus
}

func runPayment(t *testing.T, env *testsuite.TestWorkflowEnvironment, f *fakeInbank, steps []paymentStep) workflows.PaymentStatus {
	t.Helper()
	for _, s := range steps {
		env.RegisterDelayedCallback(func() {
			if s.truth != "" {
				f.set(s.truth)
			}
			for _, c := range s.claims {
				env.SignalWorkflow(workflows.SignalInbankCallback, workflows.InbankCallback{POSSessionUUID: testkit.InbankPOSSession, Status: c, Timestamp: env.Now().Unix()})
			}
		}, s.at)
	}
	env.ExecuteWorkflow(workflows.PaymentWorkflowName, paymentInput(true))
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var out workflows.PaymentStatus
	require.NoError(t, env.GetWorkflowResult(&out))
	return out
}

func TestPaymentSessionEndStates(t *testing.T) {
	tests := []struct {
		name      string
		steps     []paymentStep
		want      pos.InbankStatus
		callbacks int
	}{
		{"completed via granted", []paymentStep{
			{10 * time.Minute, pos.StatusGranted, []pos.InbankStatus{pos.StatusGranted}},
			{20 * time.Minute, pos.StatusCompleted, []pos.InbankStatus{pos.StatusCompleted}},
		}, pos.StatusCompleted, 2},
		{"cancelled", []paymentStep{{5 * time.Minute, pos.StatusCancelled, []pos.InbankStatus{pos.StatusCancelled}}}, pos.StatusCancelled, 1},
		{"declined", []paymentStep{{5 * time.Minute, pos.StatusDeclined, []pos.InbankStatus{pos.StatusDeclined}}}, pos.StatusDeclined, 1},
		{"duplicates", []paymentStep{
			{5 * time.Minute, pos.StatusCompleted, []pos.InbankStatus{pos.StatusCompleted, pos.StatusCompleted}},
		}, pos.StatusCompleted, 2},
		{"reordered: granted arrives after completed", []paymentStep{
			{5 * time.Minute, pos.StatusCompleted, []pos.InbankStatus{pos.StatusCompleted, pos.StatusGranted}},
		}, pos.StatusCompleted, 2},
		{"forged completed, then expiry", []paymentStep{
			{5 * time.Minute, "", []pos.InbankStatus{pos.StatusCompleted, pos.StatusCompleted}},
		}, pos.StatusExpired, 2},
		{"expired by the timer, Inbank still pending", nil, pos.StatusExpired, 0},
		{"expired by Inbank at the timer", []paymentStep{{59 * time.Minute, pos.StatusExpired, nil}}, pos.StatusExpired, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, f := newPaymentEnv(t)
			start := env.Now()
			out := runPayment(t, env, f, tt.steps)
			require.Equal(t, tt.want, out.Status)
			require.Equal(t, testkit.InbankPOSSession, out.POSSessionUUID)
			require.Equal(t, tt.callbacks, out.Callbacks)
			if tt.want == pos.StatusExpired {
				require.False(t, env.Now().Before(start.Add(time.Hour)), "expired before validUntil")
			} else {
				require.True(t, env.Now().Before(start.Add(time.Hour)))
			}
		})
	}
}

func TestPaymentSessionForgedCallbackChangesNothing(t *testing.T) {
	env, f := newPaymentEnv(t)
	var seen workflows.PaymentStatus
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(workflows.SignalInbankCallback, workflows.InbankCallback{POSSessionUUID: testkit.InbankPOSSession, Status: pos.StatusCompleted})
	}, 5*time.Minute)
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(workflows.QueryStatus)
		require.NoError(t, err)
		require.NoError(t, v.Get(&seen))
		f.set(pos.StatusCompleted)
		env.SignalWorkflow(workflows.SignalInbankCallback, workflows.InbankCallback{POSSessionUUID: testkit.InbankPOSSession, Status: pos.StatusCompleted})
	}, 10*time.Minute)
	env.ExecuteWorkflow(workflows.PaymentWorkflowName, paymentInput(true))
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, pos.StatusPending, seen.Status, "a callback GET does not confirm is ignored")
	require.Equal(t, 1, seen.Callbacks)
	var out workflows.PaymentStatus
	require.NoError(t, env.GetWorkflowResult(&out))
	require.Equal(t, pos.StatusCompleted, out.Status)
	require.GreaterOrEqual(t, f.gets, 3, "a GET after creation and one per trigger")
}

func TestPaymentSessionCreateUpdate(t *testing.T) {
	env, f := newPaymentEnv(t)
	var got workflows.PaymentCreated
	var rejected error
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(workflows.UpdateCreateSession, "1", &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { t.Errorf("first create rejected: %v", err) },
			OnAccept:   func() {},
			OnComplete: func(v any, err error) { require.NoError(t, err); got = v.(workflows.PaymentCreated) },
		})
	}, 0)
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(workflows.UpdateCreateSession, "2", &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { rejected = err },
			OnAccept:   func() { t.Error("second create accepted") },
			OnComplete: func(any, error) {},
		})
		f.set(pos.StatusCancelled)
		env.SignalWorkflow(workflows.SignalInbankCallback, workflows.InbankCallback{Status: pos.StatusCancelled})
	}, time.Minute)
	env.ExecuteWorkflow(workflows.PaymentWorkflowName, paymentInput(false))
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, workflows.PaymentCreated{ID: paymentInput(false).ID, POSSessionUUID: testkit.InbankPOSSession, RedirectURL: "https://inbank.test/pay/" + testkit.InbankPOSSession, Status: pos.StatusPending}, got)
	var ae *temporal.ApplicationError
	require.True(t, errors.As(rejected, &ae), "second create: %v", rejected)
	require.Equal(t, workflows.ErrTypeAlreadyCreated, ae.Type())
	var out workflows.PaymentStatus
	require.NoError(t, env.GetWorkflowResult(&out))
	require.Equal(t, pos.StatusCancelled, out.Status)
}

func TestPaymentSessionCreateFails(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	worker.Register(env, worker.Deps{})
	env.OnActivity(workflows.ActivityInbankCreateSession, mock.Anything, mock.Anything).Return(activities.InbankCreated{},
		temporal.NewNonRetryableApplicationError("pos: inbank create session: 404 not_found", activities.ErrTypeInbankNotFound, nil)).Once()
	env.ExecuteWorkflow(workflows.PaymentWorkflowName, paymentInput(true))
	requireFailure(t, env, activities.ErrTypeInbankNotFound)
}

func TestPaymentSessionNoCreateUpdate(t *testing.T) {
	env, _ := newPaymentEnv(t)
	env.ExecuteWorkflow(workflows.PaymentWorkflowName, paymentInput(false))
	requireFailure(t, env, workflows.ErrTypeNotCreated)
}

// requireFailure checks that the workflow failed with an application error of type typ.
func requireFailure(t *testing.T, env *testsuite.TestWorkflowEnvironment, typ string) {
	t.Helper()
	var ae *temporal.ApplicationError
	require.ErrorAs(t, env.GetWorkflowError(), &ae)
	require.Equal(t, typ, ae.Type())
}

// TestPaymentSessionReadWithoutCallbacks: every callback lost, the session is still read every
// workflows.RecheckInterval, so a paid session ends long before its expiry.
func TestPaymentSessionReadWithoutCallbacks(t *testing.T) {
	env, f := newPaymentEnv(t)
	start := env.Now()
	env.RegisterDelayedCallback(func() { f.set(pos.StatusCompleted) }, 7*time.Minute)
	out := runPayment(t, env, f, nil)
	require.Equal(t, pos.StatusCompleted, out.Status)
	require.Zero(t, out.Callbacks)
	took := env.Now().Sub(start)
	require.GreaterOrEqual(t, took, 7*time.Minute)
	require.LessOrEqual(t, took, 7*time.Minute+workflows.RecheckInterval, "read within one interval of the payment")
}

// paymentParent starts a payment session as a child workflow, as another product would.
func paymentParent(ctx workflow.Context, in workflows.PaymentInput) (workflows.PaymentStatus, error) {
	in.CreateOnStart = true
	ctx = workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: workflows.PaymentWorkflowID(in.ID)})
	var out workflows.PaymentStatus
	err := workflow.ExecuteChildWorkflow(ctx, workflows.PaymentWorkflowName, in).Get(ctx, &out)
	return out, err
}

func TestPaymentSessionAsChild(t *testing.T) {
	env, f := newPaymentEnv(t)
	env.RegisterDelayedCallback(func() {
		f.set(pos.StatusCompleted)
		env.SignalWorkflowByID(workflows.PaymentWorkflowID(paymentInput(false).ID), workflows.SignalInbankCallback, workflows.InbankCallback{Status: pos.StatusCompleted})
	}, 10*time.Minute)
	env.ExecuteWorkflow(paymentParent, paymentInput(false))
	require.NoError(t, env.GetWorkflowError())
	var out workflows.PaymentStatus
	require.NoError(t, env.GetWorkflowResult(&out))
	require.Equal(t, pos.StatusCompleted, out.Status)
	require.Equal(t, testkit.InbankPOSSession, out.POSSessionUUID)
}
