package payments

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/epcflow/epcflow/pos"
)

// fakeCreate answers create calls with status and counts them.
func fakeCreate(t *testing.T, status int, reply string) (*pos.InbankClient, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(reply))
	}))
	t.Cleanup(srv.Close)
	return &pos.InbankClient{BaseURL: srv.URL, APIKey: "k"}, &calls
}

func minimalRequest(t *testing.T) []byte {
	b, err := os.ReadFile("testdata/inbank-session-minimal.json")
	require.NoError(t, err)
	return b
}

func TestCreateSessionNotTwiceAcrossRetries(t *testing.T) {
	inbank, calls := fakeCreate(t, http.StatusCreated,
		`{"uuid":"`+testPOS+`","status":"pending","redirectUrl":"https://inbank.test/pay/`+testPOS+`"}`)
	a := &Activities{Inbank: inbank}
	in := CreateInput{ShopUUID: testShop, Request: minimalRequest(t)}

	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a.CreateSession)
	v, err := env.ExecuteActivity(a.CreateSession, in)
	require.NoError(t, err)
	var first Created
	require.NoError(t, v.Get(&first))
	require.Equal(t, testPOS, first.POSSessionUUID)
	require.EqualValues(t, 1, calls.Load())

	// A retry: the attempt before recorded the session it created.
	retry := s.NewTestActivityEnvironment()
	retry.RegisterActivity(a.CreateSession)
	retry.SetHeartbeatDetails(pos.InbankSessionCreated{UUID: testPOS, Status: pos.StatusPending, RedirectURL: first.RedirectURL})
	v, err = retry.ExecuteActivity(a.CreateSession, in)
	require.NoError(t, err)
	var again Created
	require.NoError(t, v.Get(&again))
	require.Equal(t, first, again)
	require.EqualValues(t, 1, calls.Load(), "a retry must not create a second session")
}

func TestCreateSessionErrors(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		reply     string
		typ       string
		retryable bool
	}{
		{"unauthorized", 401, `{"message":"unauthorized"}`, ErrTypeUnauthorized, false},
		{"forbidden", 403, `{"message":"User is not authorized to access this resource with an explicit deny"}`, ErrTypeForbidden, false},
		{"unknown shop", 404, `{"message":"not_found"}`, ErrTypeShopNotFound, false},
		{"rejected", 400, `{"message":"validation_failed"}`, ErrTypeRejected, false},
		{"server error", 500, `{"message":"internal_server_error"}`, ErrTypeUnavailable, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inbank, _ := fakeCreate(t, tt.status, tt.reply)
			a := &Activities{Inbank: inbank}
			var s testsuite.WorkflowTestSuite
			env := s.NewTestActivityEnvironment()
			env.RegisterActivity(a.CreateSession)
			_, err := env.ExecuteActivity(a.CreateSession, CreateInput{ShopUUID: testShop, Request: minimalRequest(t)})
			var ae *temporal.ApplicationError
			require.True(t, errors.As(err, &ae), "%v", err)
			require.Equal(t, tt.typ, ae.Type())
			require.Equal(t, tt.retryable, !ae.NonRetryable())
			require.NotContains(t, err.Error(), "Bearer")
		})
	}
	t.Run("invalid body is never sent", func(t *testing.T) {
		inbank, calls := fakeCreate(t, http.StatusCreated, `{}`)
		a := &Activities{Inbank: inbank}
		var s testsuite.WorkflowTestSuite
		env := s.NewTestActivityEnvironment()
		env.RegisterActivity(a.CreateSession)
		_, err := env.ExecuteActivity(a.CreateSession, CreateInput{ShopUUID: testShop, Request: []byte(`{"currency":"usd"}`)})
		var ae *temporal.ApplicationError
		require.True(t, errors.As(err, &ae), "%v", err)
		require.Equal(t, ErrTypeInvalidRequest, ae.Type())
		require.Zero(t, calls.Load())
	})
}

// parent starts a payment session as a child workflow, as another product would.
func parent(ctx workflow.Context, in SessionInput) (Session, error) {
	in.CreateOnStart = true
	ctx = workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: WorkflowID(in.ID)})
	var out Session
	err := workflow.ExecuteChildWorkflow(ctx, PaymentWorkflowName, in).Get(ctx, &out)
	return out, err
}

func TestPaymentSessionAsChild(t *testing.T) {
	env, f := newEnv(t)
	env.RegisterWorkflow(parent)
	env.RegisterDelayedCallback(func() {
		f.set(pos.StatusCompleted)
		env.SignalWorkflowByID(WorkflowID(testInput(false).ID), CallbackSignalName, Callback{Status: pos.StatusCompleted})
	}, 10*time.Minute)
	env.ExecuteWorkflow(parent, testInput(false))
	require.NoError(t, env.GetWorkflowError())
	var out Session
	require.NoError(t, env.GetWorkflowResult(&out))
	require.Equal(t, pos.StatusCompleted, out.Status)
	require.Equal(t, testPOS, out.POSSessionUUID)
}
