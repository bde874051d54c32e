package activities_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/epcflow/epcflow/activities"
	"github.com/epcflow/epcflow/internal/testkit"
	"github.com/epcflow/epcflow/pos"
	"github.com/epcflow/epcflow/worker"
	"github.com/epcflow/epcflow/workflows"
)

func newActivityEnv(s *testsuite.WorkflowTestSuite, p *activities.Payment) *testsuite.TestActivityEnvironment {
	env := s.NewTestActivityEnvironment()
	worker.Register(worker.ActivitiesOnly(env), worker.Deps{Payment: p})
	return env
}

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
	return testkit.Fixture(t, "pos/testdata/inbank-session-minimal.json")
}

func TestCreateSessionNotTwiceAcrossRetries(t *testing.T) {
	inbank, calls := fakeCreate(t, http.StatusCreated,
		`{"uuid":"`+testkit.InbankPOSSession+`","status":"pending","redirectUrl":"https://inbank.test/pay/`+testkit.InbankPOSSession+`"}`)
	a := &activities.Payment{Inbank: inbank}
	in := activities.InbankCreateInput{ShopUUID: testkit.InbankShop, Request: minimalRequest(t)}

	var s testsuite.WorkflowTestSuite
	env := newActivityEnv(&s, a)
	v, err := env.ExecuteActivity(workflows.ActivityInbankCreateSession, in)
	require.NoError(t, err)
	var first activities.InbankCreated
	require.NoError(t, v.Get(&first))
	require.Equal(t, testkit.InbankPOSSession, first.POSSessionUUID)
	require.EqualValues(t, 1, calls.Load())

	// A retry: the attempt before recorded the session it created.
	retry := newActivityEnv(&s, a)
	retry.SetHeartbeatDetails(pos.InbankSessionCreated{UUID: testkit.InbankPOSSession, Status: pos.StatusPending, RedirectURL: first.RedirectURL})
	v, err = retry.ExecuteActivity(workflows.ActivityInbankCreateSession, in)
	require.NoError(t, err)
	var again activities.InbankCreated
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
		{"unauthorized", 401, `{"message":"unauthorized"}`, activities.ErrTypeInbankUnauthorized, false},
		{"forbidden", 403, `{"message":"User is not authorized to access this resource with an explicit deny"}`, activities.ErrTypeInbankForbidden, false},
		{"unknown shop", 404, `{"message":"not_found"}`, activities.ErrTypeInbankNotFound, false},
		{"rejected", 400, `{"message":"validation_failed"}`, activities.ErrTypeInbankRejected, false},
		{"server error", 500, `{"message":"internal_server_error"}`, activities.ErrTypeInbankUnavailable, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inbank, _ := fakeCreate(t, tt.status, tt.reply)
			a := &activities.Payment{Inbank: inbank}
			var s testsuite.WorkflowTestSuite
			env := newActivityEnv(&s, a)
			_, err := env.ExecuteActivity(workflows.ActivityInbankCreateSession, activities.InbankCreateInput{ShopUUID: testkit.InbankShop, Request: minimalRequest(t)})
			var ae *temporal.ApplicationError
			require.True(t, errors.As(err, &ae), "%v", err)
			require.Equal(t, tt.typ, ae.Type())
			require.Equal(t, tt.retryable, !ae.NonRetryable())
			require.NotContains(t, err.Error(), "Bearer")
		})
	}
	t.Run("invalid body is never sent", func(t *testing.T) {
		inbank, calls := fakeCreate(t, http.StatusCreated, `{}`)
		a := &activities.Payment{Inbank: inbank}
		var s testsuite.WorkflowTestSuite
		env := newActivityEnv(&s, a)
		_, err := env.ExecuteActivity(workflows.ActivityInbankCreateSession, activities.InbankCreateInput{ShopUUID: testkit.InbankShop, Request: []byte(`{"currency":"usd"}`)})
		var ae *temporal.ApplicationError
		require.True(t, errors.As(err, &ae), "%v", err)
		require.Equal(t, activities.ErrTypeInvalidRequest, ae.Type())
		require.Zero(t, calls.Load())
	})
}
