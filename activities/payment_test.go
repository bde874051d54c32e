package activities

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/epcflow/epcflow/pos"
)

const (
	testShop = "a93f1f44-d5dd-4469-bfcc-c1de9e969213"
	testPOS  = "0b6a3a8e-2f7c-4d8e-9a51-0c1d2e3f4a5b"
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
	b, err := os.ReadFile("../pos/testdata/inbank-session-minimal.json")
	require.NoError(t, err)
	return b
}

func TestCreateSessionNotTwiceAcrossRetries(t *testing.T) {
	inbank, calls := fakeCreate(t, http.StatusCreated,
		`{"uuid":"`+testPOS+`","status":"pending","redirectUrl":"https://inbank.test/pay/`+testPOS+`"}`)
	a := &Payment{Inbank: inbank}
	in := InbankCreateInput{ShopUUID: testShop, Request: minimalRequest(t)}

	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a.CreateSession)
	v, err := env.ExecuteActivity(a.CreateSession, in)
	require.NoError(t, err)
	var first InbankCreated
	require.NoError(t, v.Get(&first))
	require.Equal(t, testPOS, first.POSSessionUUID)
	require.EqualValues(t, 1, calls.Load())

	// A retry: the attempt before recorded the session it created.
	retry := s.NewTestActivityEnvironment()
	retry.RegisterActivity(a.CreateSession)
	retry.SetHeartbeatDetails(pos.InbankSessionCreated{UUID: testPOS, Status: pos.StatusPending, RedirectURL: first.RedirectURL})
	v, err = retry.ExecuteActivity(a.CreateSession, in)
	require.NoError(t, err)
	var again InbankCreated
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
		{"unauthorized", 401, `{"message":"unauthorized"}`, ErrTypeInbankUnauthorized, false},
		{"forbidden", 403, `{"message":"User is not authorized to access this resource with an explicit deny"}`, ErrTypeInbankForbidden, false},
		{"unknown shop", 404, `{"message":"not_found"}`, ErrTypeInbankNotFound, false},
		{"rejected", 400, `{"message":"validation_failed"}`, ErrTypeInbankRejected, false},
		{"server error", 500, `{"message":"internal_server_error"}`, ErrTypeInbankUnavailable, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inbank, _ := fakeCreate(t, tt.status, tt.reply)
			a := &Payment{Inbank: inbank}
			var s testsuite.WorkflowTestSuite
			env := s.NewTestActivityEnvironment()
			env.RegisterActivity(a.CreateSession)
			_, err := env.ExecuteActivity(a.CreateSession, InbankCreateInput{ShopUUID: testShop, Request: minimalRequest(t)})
			var ae *temporal.ApplicationError
			require.True(t, errors.As(err, &ae), "%v", err)
			require.Equal(t, tt.typ, ae.Type())
			require.Equal(t, tt.retryable, !ae.NonRetryable())
			require.NotContains(t, err.Error(), "Bearer")
		})
	}
	t.Run("invalid body is never sent", func(t *testing.T) {
		inbank, calls := fakeCreate(t, http.StatusCreated, `{}`)
		a := &Payment{Inbank: inbank}
		var s testsuite.WorkflowTestSuite
		env := s.NewTestActivityEnvironment()
		env.RegisterActivity(a.CreateSession)
		_, err := env.ExecuteActivity(a.CreateSession, InbankCreateInput{ShopUUID: testShop, Request: []byte(`{"currency":"usd"}`)})
		var ae *temporal.ApplicationError
		require.True(t, errors.As(err, &ae), "%v", err)
		require.Equal(t, ErrTypeInvalidRequest, ae.Type())
		require.Zero(t, calls.Load())
	})
}
