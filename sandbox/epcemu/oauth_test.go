package epcemu

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/sandbox/internal/core"
	"github.com/epcflow/epcflow/sandbox/internal/sbtest"
)

func TestTokenEndpoint(t *testing.T) {
	const (
		form  = "application/x-www-form-urlencoded"
		creds = "&client_id=sandbox-client&client_secret=sandbox-secret"
	)
	basic := [2]string{sbtest.ClientID, sbtest.ClientSecret}
	tests := []struct {
		name        string
		acceptBasic bool
		body        string
		contentType string
		basic       [2]string
		status      int
		errCode     string
		errHas      string
	}{
		// What ICE's samples send, and the client's default: everything in the form body.
		{"form credentials", false, "grant_type=client_credentials&scope=pc%20pcapi" + creds, form, [2]string{}, 200, "", ""},
		{"scope in either order", false, "grant_type=client_credentials&scope=pcapi+pc" + creds, form, [2]string{}, 200, "", ""},
		{"basic refused by default", false, "grant_type=client_credentials&scope=pc+pcapi", form, basic, 401, "invalid_client", "--oauth-accept-basic"},
		{"basic accepted when widened", true, "grant_type=client_credentials&scope=pc+pcapi", form, basic, 200, "", ""},
		{"basic and form at once", true, "grant_type=client_credentials&scope=pc+pcapi" + creds, form, basic, 400, "invalid_request", "one way"},
		{"no scope", false, "grant_type=client_credentials" + creds, form, [2]string{}, 400, "invalid_scope", "scope required"},
		{"pc alone", false, "grant_type=client_credentials&scope=pc" + creds, form, [2]string{}, 400, "invalid_scope", "both pc and pcapi"},
		{"foreign scope", false, "grant_type=client_credentials&scope=pc+admin" + creds, form, [2]string{}, 400, "invalid_scope", "admin"},
		{"wrong secret", false, "grant_type=client_credentials&scope=pc+pcapi&client_id=sandbox-client&client_secret=nope", form, [2]string{}, 401, "invalid_client", ""},
		{"wrong secret, basic", true, "grant_type=client_credentials&scope=pc+pcapi", form, [2]string{sbtest.ClientID, "nope"}, 401, "invalid_client", ""},
		{"unknown client", false, "grant_type=client_credentials&scope=pc+pcapi&client_id=someone&client_secret=sandbox-secret", form, [2]string{}, 401, "invalid_client", ""},
		{"no credentials", false, "grant_type=client_credentials&scope=pc+pcapi", form, [2]string{}, 401, "invalid_client", "client_id and client_secret"},
		{"password grant", false, "grant_type=password&username=a&password=b" + creds, form, [2]string{}, 400, "unsupported_grant_type", ""},
		{"no grant type", false, "scope=pc" + creds, form, [2]string{}, 400, "invalid_request", ""},
		{"json body", false, `{"grant_type":"client_credentials"}`, "application/json", [2]string{}, 415, "invalid_request", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(_ *core.Options, c *Config) { c.OAuthAcceptBasic = tc.acceptBasic })
			req, _ := http.NewRequest(http.MethodPost, e.URL+"/oauth2/v1/token", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.contentType)
			if tc.basic[0] != "" {
				req.SetBasicAuth(tc.basic[0], tc.basic[1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			var body struct {
				epc.Token
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			rep := sbtest.Reply{Status: resp.StatusCode}
			rep.Body, _ = io.ReadAll(resp.Body)
			rep.JSON(t, &body)
			if tc.status == 200 {
				if body.AccessToken == "" || body.TokenType != "Bearer" || body.ExpiresIn != 7200 {
					t.Errorf("token reply = %+v", body.Token)
				}
				return
			}
			if body.Error != tc.errCode || body.Description == "" || !strings.Contains(body.Description, tc.errHas) {
				t.Errorf("error = %q (%q), want %q mentioning %q", body.Error, body.Description, tc.errCode, tc.errHas)
			}
			if got := resp.Header.Get("WWW-Authenticate"); (got != "") != (tc.status == 401 && tc.acceptBasic) {
				t.Errorf("WWW-Authenticate = %q: a Basic challenge only where Basic is accepted", got)
			}
			if strings.Contains(string(rep.Body), sbtest.ClientSecret) || strings.Contains(string(rep.Body), "nope") {
				t.Errorf("error body echoes a secret: %s", rep.Body)
			}
		})
	}
}

func TestBearerToken(t *testing.T) {
	e := newEnv(t, withTokenLifetime(time.Second))
	id := e.Order(nil)
	path := "/partner/v2/transactions/" + id
	tok := e.Token()
	tests := []struct {
		name    string
		header  string
		advance time.Duration
		status  int
		message string
	}{
		{"valid", "Bearer " + tok, 0, 200, ""},
		{"missing", "", 0, 401, "bearer token required"},
		{"basic scheme", "Basic abc", 0, 401, "Bearer <access_token>"},
		{"unknown token", "Bearer not-a-token", 0, 401, "invalid access token"},
		{"expired", "Bearer " + tok, time.Second, 401, "access token expired"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.Clock.Advance(tc.advance)
			var hdr []string
			if tc.header != "" {
				hdr = []string{"Authorization", tc.header}
			}
			rep := e.Do(http.MethodGet, path, nil, hdr...)
			if rep.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", rep.Status, tc.status, rep.Body)
			}
			if tc.status == 401 {
				if !strings.HasPrefix(rep.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate = %q", rep.Header.Get("WWW-Authenticate"))
				}
				if msg := rep.Err(t).Message; !strings.Contains(msg, tc.message) {
					t.Errorf("message %q lacks %q", msg, tc.message)
				}
			}
		})
	}
}

// TestTokenExpiryRefreshUnderConcurrency: the sandbox's clock jumps past the token's life
// while the client still trusts it; 20 concurrent calls each get a 401, and the client
// fetches a new token once for all of them.
func TestTokenExpiryRefreshUnderConcurrency(t *testing.T) {
	e := newEnv(t, withTokenLifetime(time.Hour))
	var tokenCalls atomic.Int32
	counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth2/v1/token" {
			tokenCalls.Add(1)
		}
		e.TS.Config.Handler.ServeHTTP(w, r)
	}))
	defer counting.Close()
	client, err := epc.NewClient(epc.Config{BaseURL: counting.URL, ClientID: sbtest.ClientID, ClientSecret: sbtest.ClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id := e.Order(nil)
	if _, err := client.GetTransaction(ctx, id); err != nil {
		t.Fatalf("first call: %v", err)
	}
	if n := tokenCalls.Load(); n != 1 {
		t.Fatalf("token calls after the first call = %d, want 1", n)
	}

	e.Clock.Advance(time.Hour) // every token issued so far is now expired
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := client.GetTransaction(ctx, id)
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("call after expiry: %v", err)
		}
	}
	// One refresh is expected; a call that got its 401 after the refresh already finished
	// may trigger at most one more, never one per caller.
	if n := tokenCalls.Load() - 1; n < 1 || n > 2 {
		t.Errorf("token refreshes = %d, want 1 (at most 2)", n)
	}
	// The 401s and the retries are in the call log.
	var unauthorized, ok int
	for _, c := range e.Control(id).PartnerCalls {
		switch c.Status {
		case 401:
			unauthorized++
		case 200:
			ok++
		}
	}
	if unauthorized < 1 || unauthorized > 20 || ok != 21 {
		t.Errorf("call log: %d × 401, %d × 200; want 1-20 and 21", unauthorized, ok)
	}
}
