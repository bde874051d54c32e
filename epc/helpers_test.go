package epc

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/internal/testkit"
)

const (
	testClientID  = "partner-client-id"
	testSecret    = "s3cr3t-client-value-XYZ"
	testUserAgent = "epcflow-test/1"
	tokenPrefix   = "tok-secret-" // every access token the fake issues starts with this
	waitTimeout   = 5 * time.Second
)

// recorded is one Partner API request as the fake saw it.
type recorded struct {
	Method string
	URI    string // raw request URI: escaping is visible
	Header http.Header
	Body   []byte
}

// fakeEPC plays the token endpoint and hands /partner/ requests to api.
type fakeEPC struct {
	*httptest.Server
	t         *testing.T
	expiresIn int
	// style is how the fake wants the client credentials: the form body unless set.
	style AuthStyle
	// tokenGate, when set, holds every token request until closed; tokenEntered is told
	// when a token request arrives.
	tokenGate    chan struct{}
	tokenEntered chan struct{}
	// tokenReply, when set, answers token requests instead of issuing tokens.
	tokenReply http.HandlerFunc
	api        http.HandlerFunc

	mu         sync.Mutex
	tokenCalls int
	calls      []recorded
}

func newFake(t *testing.T, api http.HandlerFunc) *fakeEPC {
	t.Helper()
	f := &fakeEPC{t: t, expiresIn: 7200, api: api, tokenEntered: make(chan struct{}, 100)}
	mux := http.NewServeMux()
	mux.HandleFunc("/oauth2/v1/token", f.token)
	mux.HandleFunc("/partner/", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.calls = append(f.calls, recorded{Method: r.Method, URI: r.RequestURI, Header: r.Header.Clone(), Body: body})
		f.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		if f.api == nil {
			http.NotFound(w, r)
			return
		}
		f.api(w, r)
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func (f *fakeEPC) token(w http.ResponseWriter, r *http.Request) {
	f.tokenEntered <- struct{}{}
	if f.tokenGate != nil {
		<-f.tokenGate
	}
	f.mu.Lock()
	f.tokenCalls++
	n := f.tokenCalls
	f.mu.Unlock()
	if f.tokenReply != nil {
		f.tokenReply(w, r)
		return
	}
	if problem := checkTokenRequest(r, f.style); problem != "" {
		f.t.Errorf("bad token request: %s", problem)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated) // the docs say 201, samples see 200: both must do
	fmt.Fprintf(w, `{"access_token":"%s%d","token_type":"Bearer","expires_in":%d}`, tokenPrefix, n, f.expiresIn)
}

// checkTokenRequest says what is wrong with a token request that should carry the test
// credentials in style, or "". Credentials sent both ways are wrong too.
func checkTokenRequest(r *http.Request, style AuthStyle) string {
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		return fmt.Sprintf("method %s, content type %q", r.Method, r.Header.Get("Content-Type"))
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("scope") != "pc pcapi" {
		return fmt.Sprintf("form %v (%v)", r.PostForm, err)
	}
	id, secret, basic := r.BasicAuth()
	formID, formSecret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	switch style {
	case AuthBasic:
		if !basic || id != testClientID || secret != testSecret || r.PostForm.Has("client_id") || r.PostForm.Has("client_secret") {
			return fmt.Sprintf("want Basic only: basic %v id %q, form id %q", basic, id, formID)
		}
	default:
		if r.Header.Get("Authorization") != "" || formID != testClientID || formSecret != testSecret {
			return fmt.Sprintf("want the form body only: Authorization set %v, form id %q", r.Header.Get("Authorization") != "", formID)
		}
	}
	return ""
}

func (f *fakeEPC) tokens() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenCalls
}

func (f *fakeEPC) recorded() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.calls...)
}

func newTestClient(t *testing.T, baseURL string, edit ...func(*Config)) (*Client, *testkit.Logs) {
	t.Helper()
	logs := &testkit.Logs{}
	cfg := Config{
		BaseURL:      baseURL,
		ClientID:     testClientID,
		ClientSecret: testSecret,
		Logger:       logs.Text(),
		UserAgent:    testUserAgent,
	}
	for _, e := range edit {
		e(&cfg)
	}
	c, err := NewClient(cfg)
	require.NoError(t, err)
	return c, logs
}

func replyJSON(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// waitFor receives from ch or fails the test after waitTimeout.
func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// storage plays the media server behind an upload slot.
type storage struct {
	*httptest.Server
	mu     sync.Mutex
	puts   []recorded
	length []int64
	status int
}

func newStorage(t *testing.T) *storage {
	s := &storage{status: http.StatusCreated}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.puts = append(s.puts, recorded{Method: r.Method, URI: r.RequestURI, Header: r.Header.Clone(), Body: body})
		s.length = append(s.length, r.ContentLength)
		status := s.status
		s.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *storage) recorded() ([]recorded, []int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recorded(nil), s.puts...), append([]int64(nil), s.length...)
}
