package epc

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/internal/testkit"
)

func TestTokenCachedUnderConcurrency(t *testing.T) {
	const n = 20
	f := newFake(t, replyJSON(200, `{"id":"tx-1","status":"pending"}`))
	f.tokenGate = make(chan struct{})
	c, _ := newTestClient(t, f.URL)

	// Hold the first token request until every other caller is waiting on it.
	var mu sync.Mutex
	joined := 0
	allJoined := make(chan struct{})
	c.onJoin = func() {
		mu.Lock()
		defer mu.Unlock()
		if joined++; joined == n-1 {
			close(allJoined)
		}
	}
	ctx := testCtx(t)
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := c.GetTransaction(ctx, "tx-1")
			errs <- err
		}()
	}
	waitFor(t, f.tokenEntered, "token request")
	waitFor(t, allJoined, "all callers to wait for the refresh")
	close(f.tokenGate)
	for range n {
		require.NoError(t, <-errs)
	}
	require.Equal(t, 1, f.tokens())
	require.Len(t, f.recorded(), n)

	// And later calls reuse it.
	_, err := c.GetTransaction(ctx, "tx-1")
	require.NoError(t, err)
	require.Equal(t, 1, f.tokens())
}

func TestTokenWaiterRespectsItsContext(t *testing.T) {
	f := newFake(t, replyJSON(200, `{"id":"tx-1","status":"pending"}`))
	f.tokenGate = make(chan struct{})
	c, _ := newTestClient(t, f.URL)

	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan error, 1)
	go func() {
		_, err := c.GetTransaction(ctx, "tx-1")
		done <- err
	}()
	waitFor(t, f.tokenEntered, "token request")
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
		require.False(t, IsRetryable(err))
	case <-time.After(waitTimeout):
		t.Fatal("canceled caller still waiting for the token")
	}

	// The refresh was not tied to the caller that gave up: it completes and is reused.
	close(f.tokenGate)
	_, err := c.GetTransaction(testCtx(t), "tx-1")
	require.NoError(t, err)
	require.Equal(t, 1, f.tokens())
}

func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	tests := []struct {
		name       string
		expiresIn  int
		leeway     time.Duration
		stillValid time.Duration // a call this long after issue reuses the token
		refreshed  time.Duration // a call this long after issue fetches a new one
	}{
		{"leeway before expiry", 120, 30 * time.Second, 89 * time.Second, 91 * time.Second},
		{"default leeway", 7200, 0, 7139 * time.Second, 7141 * time.Second},
		{"leeway longer than the lifetime halves it", 60, 5 * time.Minute, 29 * time.Second, 31 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, replyJSON(200, `{"id":"tx-1","status":"pending"}`))
			f.expiresIn = tt.expiresIn
			c, _ := newTestClient(t, f.URL, func(cfg *Config) { cfg.TokenLeeway = tt.leeway })
			clock := testkit.NewClock(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))
			c.now = clock.Now
			ctx := testCtx(t)

			_, err := c.GetTransaction(ctx, "tx-1")
			require.NoError(t, err)
			require.Equal(t, 1, f.tokens())

			clock.Advance(tt.stillValid)
			_, err = c.GetTransaction(ctx, "tx-1")
			require.NoError(t, err)
			require.Equal(t, 1, f.tokens())

			clock.Advance(tt.refreshed - tt.stillValid)
			_, err = c.GetTransaction(ctx, "tx-1")
			require.NoError(t, err)
			require.Equal(t, 2, f.tokens())

			calls := f.recorded()
			require.Equal(t, "Bearer "+tokenPrefix+"2", calls[len(calls)-1].Header.Get("Authorization"))
		})
	}
}

func TestUnauthorizedRefreshesOnceAndRetries(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer "+tokenPrefix+"1" {
			replyJSON(401, `{"message":"token expired"}`)(w, r)
			return
		}
		replyJSON(200, `{"id":"tx-1","status":"pending"}`)(w, r)
	})
	c, _ := newTestClient(t, f.URL)
	tx, err := c.GetTransaction(testCtx(t), "tx-1")
	require.NoError(t, err)
	require.Equal(t, "tx-1", tx.ID)
	require.Equal(t, 2, f.tokens())
	calls := f.recorded()
	require.Len(t, calls, 2)
	require.Equal(t, "Bearer "+tokenPrefix+"1", calls[0].Header.Get("Authorization"))
	require.Equal(t, "Bearer "+tokenPrefix+"2", calls[1].Header.Get("Authorization"))
}

func TestUnauthorizedTwiceIsFinal(t *testing.T) {
	f := newFake(t, replyJSON(401, `{"message":"client not entitled"}`))
	c, _ := newTestClient(t, f.URL)
	err := c.PatchResponse(testCtx(t), "tx-1", &Response{Status: StatusProcessing})
	require.Error(t, err)
	require.Equal(t, 401, StatusOf(err))
	require.False(t, IsRetryable(err))
	require.Contains(t, err.Error(), "client not entitled")
	require.Equal(t, 2, f.tokens())
	calls := f.recorded()
	require.Len(t, calls, 2)
	// The retry re-sends the same body.
	require.Equal(t, calls[0].Body, calls[1].Body)
}

func TestTokenEndpointFailures(t *testing.T) {
	tests := []struct {
		name          string
		reply         http.HandlerFunc
		wantStatus    int
		wantRetryable bool
		wantText      string
	}{
		{"bad credentials", replyJSON(401, `{"error":"invalid_client","error_description":"Client authentication failed"}`), 401, false, "invalid_client: Client authentication failed"},
		{"unavailable", replyJSON(503, `{"message":"try later"}`), 503, true, "try later"},
		{"no access token", replyJSON(200, `{"token_type":"Bearer","expires_in":7200}`), 0, false, "missing access_token"},
		{"not JSON", replyJSON(200, `<html>`), 0, false, "decode token reply"},
		{"unknown token type", replyJSON(200, `{"access_token":"x","token_type":"MAC"}`), 0, false, `unsupported token_type "MAC"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, replyJSON(200, `{}`))
			f.tokenReply = tt.reply
			c, _ := newTestClient(t, f.URL)
			_, err := c.ListEvents(testCtx(t), "tx-1")
			require.ErrorContains(t, err, tt.wantText)
			require.Contains(t, err.Error(), "GET /partner/v2/transactions/tx-1/events: access token")
			require.Equal(t, tt.wantStatus, StatusOf(err))
			require.Equal(t, tt.wantRetryable, IsRetryable(err))
			require.Empty(t, f.recorded(), "no API call without a token")
		})
	}
}

// TestTokenCredentialsStyle: the client credentials go in the form body by default, as ICE
// documents, and as HTTP Basic only when asked; never both ways. The fake refuses any other
// way, so a success proves the style.
func TestTokenCredentialsStyle(t *testing.T) {
	tests := []struct {
		name      string
		client    AuthStyle
		fake      AuthStyle
		wantError bool
	}{
		{"default is the form body", "", AuthForm, false},
		{"form", AuthForm, AuthForm, false},
		{"basic", AuthBasic, AuthBasic, false},
		{"basic sent where the form is wanted", AuthBasic, AuthForm, true},
		{"form sent where basic is wanted", AuthForm, AuthBasic, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var problems []string
			f := newFake(t, replyJSON(200, `{"id":"tx-1","status":"pending"}`))
			f.tokenReply = func(w http.ResponseWriter, r *http.Request) {
				if p := checkTokenRequest(r, tt.fake); p != "" {
					mu.Lock()
					problems = append(problems, p)
					mu.Unlock()
					replyJSON(401, `{"error":"invalid_client"}`)(w, r)
					return
				}
				replyJSON(201, `{"access_token":"`+tokenPrefix+`1","token_type":"Bearer","expires_in":7200}`)(w, r)
			}
			c, _ := newTestClient(t, f.URL, func(cfg *Config) { cfg.AuthStyle = tt.client })
			_, err := c.GetTransaction(testCtx(t), "tx-1")
			mu.Lock()
			defer mu.Unlock()
			if tt.wantError {
				require.Equal(t, 401, StatusOf(err), "error: %v", err)
				require.False(t, IsRetryable(err))
				require.Len(t, problems, 1, "one token request, no second try another way")
				return
			}
			require.NoError(t, err)
			require.Empty(t, problems)
			require.Equal(t, 1, f.tokens())
		})
	}
}

// TestTokenBasicCredentialsAreFormEncoded: with Basic, the id and secret are form-encoded
// before they are joined (RFC 6749 §2.3.1), so a secret with ':' or '+' survives.
func TestTokenBasicCredentialsAreFormEncoded(t *testing.T) {
	const id, secret = "client:one", "p+ss/w:rd="
	var gotID, gotSecret string
	var gotHeaders http.Header
	f := newFake(t, replyJSON(200, `{"id":"tx-1","status":"pending"}`))
	f.tokenReply = func(w http.ResponseWriter, r *http.Request) {
		gotID, gotSecret, _ = r.BasicAuth()
		gotHeaders = r.Header.Clone()
		replyJSON(200, `{"access_token":"`+tokenPrefix+`1","token_type":"bearer","expires_in":7200}`)(w, r)
	}
	c, _ := newTestClient(t, f.URL, func(cfg *Config) {
		cfg.AuthStyle, cfg.ClientID, cfg.ClientSecret = AuthBasic, id, secret
	})
	_, err := c.GetTransaction(testCtx(t), "tx-1")
	require.NoError(t, err)
	require.Equal(t, url.QueryEscape(id), gotID)
	require.Equal(t, url.QueryEscape(secret), gotSecret)
	require.Equal(t, "application/json", gotHeaders.Get("Accept"))
	require.Equal(t, testUserAgent, gotHeaders.Get("User-Agent"))
}

// TestTokenAnySuccessStatus: the docs call the token reply 201, samples check 200; any 2xx
// with a token is a token.
func TestTokenAnySuccessStatus(t *testing.T) {
	for _, status := range []int{200, 201, 202} {
		f := newFake(t, replyJSON(200, `{"id":"tx-1","status":"pending"}`))
		f.tokenReply = replyJSON(status, `{"access_token":"`+tokenPrefix+`1","token_type":"Bearer","expires_in":7200}`)
		c, logs := newTestClient(t, f.URL)
		_, err := c.GetTransaction(testCtx(t), "tx-1")
		require.NoError(t, err, "status %d", status)
		require.Contains(t, logs.String(), fmt.Sprintf("method=POST path=/oauth2/v1/token status=%d", status))
	}
}

// TestTokenErrorInSuccessReply: a 2xx whose body is an OAuth error is a permanent failure,
// with the secret it echoes redacted.
func TestTokenErrorInSuccessReply(t *testing.T) {
	f := newFake(t, replyJSON(200, `{}`))
	f.tokenReply = replyJSON(200, `{"error":"invalid_client","error_description":"secret `+testSecret+` unknown"}`)
	c, _ := newTestClient(t, f.URL)
	_, err := c.GetTransaction(testCtx(t), "tx-1")
	require.ErrorContains(t, err, "token reply is an error: invalid_client: secret [redacted] unknown")
	require.NotContains(t, err.Error(), testSecret)
	require.False(t, IsRetryable(err))
	require.Zero(t, StatusOf(err))
	require.Empty(t, f.recorded())
}

func TestAuthStyleSet(t *testing.T) {
	for in, want := range map[string]AuthStyle{"form": AuthForm, "basic": AuthBasic, " Basic ": AuthBasic, "FORM": AuthForm} {
		var s AuthStyle
		require.NoError(t, s.Set(in), in)
		require.Equal(t, want, s)
	}
	for _, in := range []string{"", "header", "params", "basic,form"} {
		var s AuthStyle
		err := s.Set(in)
		require.EqualError(t, err, "must be form or basic", in)
		require.Empty(t, s)
	}
	require.Equal(t, "form", AuthStyle("").String())
	require.Equal(t, []AuthStyle{AuthForm, AuthBasic}, AuthStyles())
}
