package epcemu

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/sandbox/internal/core"
)

// tokenScopes are the scope values a token request must name, both of them: ICE's
// "Authentication & Authorization" page lists scope as required and says it "must be pc
// pcapi" [doc].
var tokenScopes = []string{"pc", "pcapi"}

// tokens issues and checks OAuth2 access tokens (client-credentials grant).
type tokens struct {
	id, secret  string
	acceptBasic bool
	lifetime    time.Duration
	now         func() time.Time

	mu     sync.RWMutex
	expiry map[string]time.Time
	issued int
}

func newTokens(cfg Config, now func() time.Time) *tokens {
	return &tokens{
		id:          cfg.ClientID,
		secret:      cfg.ClientSecret,
		acceptBasic: cfg.OAuthAcceptBasic,
		lifetime:    cfg.TokenLifetime,
		now:         now,
		expiry:      map[string]time.Time{},
	}
}

// oauthError is the RFC 6749 error body; code/message repeat it in the sandbox's error shape.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Code        string `json:"code"`
	Message     string `json:"message"`
}

func (tk *tokens) writeOAuthError(w http.ResponseWriter, status int, code, msg string) {
	if status == http.StatusUnauthorized && tk.acceptBasic {
		// Only where Basic is accepted: the header invites a client to send it.
		w.Header().Set("WWW-Authenticate", `Basic realm="epc sandbox"`)
	}
	w.Header().Set("Cache-Control", "no-store")
	core.WriteJSON(w, status, oauthError{Error: code, Description: msg, Code: code, Message: msg})
}

// serveToken is POST /oauth2/v1/token: grant_type=client_credentials, scope=pc pcapi, and the
// client id and secret as the form fields client_id and client_secret, what every public
// sample sends (ICE's .NET reference integration, the community epc-hello-world). HTTP Basic
// is refused unless Config.OAuthAcceptBasic: the sandbox accepts only the default way of the
// client, so that the tests prove it. Errors never echo a secret.
func (tk *tokens) serveToken(w http.ResponseWriter, r *http.Request) {
	if status, code, msg := tk.checkGrant(w, r); status != 0 {
		tk.writeOAuthError(w, status, code, msg)
		return
	}
	tok := rand.Text() + rand.Text()
	now := tk.now()
	tk.mu.Lock()
	tk.issued++
	if tk.issued%256 == 0 { // now and then, drop expired tokens so the map stays small
		for t, exp := range tk.expiry {
			if !now.Before(exp) {
				delete(tk.expiry, t)
			}
		}
	}
	tk.expiry[tok] = now.Add(tk.lifetime)
	tk.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	body, _ := json.Marshal(epc.Token{
		AccessToken: tok,
		TokenType:   "Bearer",
		ExpiresIn:   int(tk.lifetime.Round(time.Second) / time.Second),
	})
	core.WriteRawJSON(w, http.StatusOK, body)
}

// checkGrant checks a token request: the OAuth error to answer (status 0 when it is good).
func (tk *tokens) checkGrant(w http.ResponseWriter, r *http.Request) (status int, code, msg string) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return http.StatusUnsupportedMediaType, "invalid_request", "Content-Type must be application/x-www-form-urlencoded"
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return http.StatusBadRequest, "invalid_request", "malformed form body"
	}
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "client_credentials":
	case "":
		return http.StatusBadRequest, "invalid_request", "grant_type required: client_credentials"
	default:
		return http.StatusBadRequest, "unsupported_grant_type", "grant_type " + core.QuoteShort(gt) + " not supported: client_credentials only"
	}
	id, secret, basic := r.BasicAuth()
	formID, formSecret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	switch {
	case basic && !tk.acceptBasic:
		return http.StatusUnauthorized, "invalid_client", "HTTP Basic client authentication is not accepted: send client_id and client_secret " +
			"in the form body (epcflow worker: --epc-auth-style form, the default); the sandbox accepts Basic only with --oauth-accept-basic"
	case basic && (formID != "" || formSecret != ""):
		// RFC 6749 §2.3: a client must not use more than one authentication method.
		return http.StatusBadRequest, "invalid_request", "client credentials sent twice (HTTP Basic and form fields): send them one way"
	case !basic:
		id, secret = formID, formSecret
	}
	if id == "" || secret == "" {
		return http.StatusUnauthorized, "invalid_client", "client credentials required: the form fields client_id and client_secret" + tk.basicHint()
	}
	idOK := subtle.ConstantTimeCompare([]byte(id), []byte(tk.id)) == 1
	secretOK := subtle.ConstantTimeCompare([]byte(secret), []byte(tk.secret)) == 1
	if !idOK || !secretOK {
		return http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret"
	}
	scopes := strings.Fields(r.PostForm.Get("scope"))
	if len(scopes) == 0 {
		return http.StatusBadRequest, "invalid_scope", "scope required: \"pc pcapi\""
	}
	for _, s := range scopes {
		if !slices.Contains(tokenScopes, s) {
			return http.StatusBadRequest, "invalid_scope", "scope " + core.QuoteShort(s) + " not granted: scope must be \"pc pcapi\""
		}
	}
	for _, want := range tokenScopes {
		if !slices.Contains(scopes, want) {
			return http.StatusBadRequest, "invalid_scope", "scope must name both pc and pcapi: \"pc pcapi\""
		}
	}
	return 0, "", ""
}

func (tk *tokens) basicHint() string {
	if tk.acceptBasic {
		return " (or HTTP Basic)"
	}
	return ""
}

// check returns nil if r carries a live bearer token, else the 401 to answer.
func (tk *tokens) check(r *http.Request) *core.APIError {
	if r.Header.Get("Authorization") == "" {
		return unauthorized("bearer token required: Authorization: Bearer <access_token>")
	}
	tok, ok := core.BearerToken(r)
	if !ok {
		return unauthorized("Authorization must be \"Bearer <access_token>\"")
	}
	tk.mu.RLock()
	exp, known := tk.expiry[tok]
	tk.mu.RUnlock()
	if !known {
		return unauthorized("invalid access token")
	}
	if !tk.now().Before(exp) {
		return unauthorized("access token expired")
	}
	return nil
}

func unauthorized(msg string) *core.APIError {
	e := core.Errorf(http.StatusUnauthorized, core.CodeUnauthorized, "%s", msg)
	e.Header = http.Header{"Www-Authenticate": {`Bearer realm="epc sandbox"`}}
	return e
}

// requireToken guards a Partner API handler.
func (tk *tokens) requireToken(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := tk.check(r); err != nil {
			core.WriteError(w, err)
			return
		}
		h.ServeHTTP(w, r)
	})
}
