package epc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// AuthStyle is how the client sends its id and secret to the token endpoint.
type AuthStyle string

const (
	// AuthForm sends client_id and client_secret in the form body, beside grant_type and
	// scope: what every public sample does (ICE's .NET reference integration, the community
	// epc-hello-world) [sample]. The default.
	AuthForm AuthStyle = "form"
	// AuthBasic sends them as HTTP Basic, each form-encoded first (RFC 6749 §2.3.1), with
	// grant_type and scope in the form body: the curl example of ICE's Partner Connect
	// "Authentication & Authorization" page (curl -u id:secret) [doc].
	AuthBasic AuthStyle = "basic"
)

// AuthStyles lists the valid styles, the default first.
func AuthStyles() []AuthStyle { return []AuthStyle{AuthForm, AuthBasic} }

// String returns the style's name; the zero value is the default, form.
func (s AuthStyle) String() string {
	if s == "" {
		return string(AuthForm)
	}
	return string(s)
}

// Set parses a style name, so that *AuthStyle is a flag.Value. The error never echoes v.
func (s *AuthStyle) Set(v string) error {
	switch st := AuthStyle(strings.ToLower(strings.TrimSpace(v))); st {
	case AuthForm, AuthBasic:
		*s = st
		return nil
	}
	return errors.New("must be form or basic")
}

// oauth2Style maps s to the library's style. Never auto-detection: that sends the secret a
// second way whenever the first fails, and a bad secret would cost two requests.
func (s AuthStyle) oauth2Style() (oauth2.AuthStyle, error) {
	switch s {
	case "", AuthForm:
		return oauth2.AuthStyleInParams, nil
	case AuthBasic:
		return oauth2.AuthStyleInHeader, nil
	}
	return 0, errors.New("must be form or basic")
}

// newGrant is the client-credentials grant of ICE's token endpoint [doc].
func newGrant(base, id, secret string, style oauth2.AuthStyle) *clientcredentials.Config {
	return &clientcredentials.Config{
		ClientID:     id,
		ClientSecret: secret,
		TokenURL:     base + tokenPath,
		Scopes:       []string{"pc", "pcapi"},
		AuthStyle:    style,
	}
}

// The grant itself (request, credentials, reply parsing) is x/oauth2's; the cache around it
// is ours, because oauth2.ReuseTokenSource cannot drop a token the platform refused with a
// 401, fetches under a lock that callers wait on without their context, and reads the
// system clock that the tests move.

// accessToken returns a cached token, or waits (bounded by ctx) for the one refresh in flight,
// starting it if needed. The refresh runs detached from ctx so that one caller giving up does
// not fail the others waiting on it.
func (c *Client) accessToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	if c.token != "" && c.now().Before(c.refreshAt) {
		tok := c.token
		c.mu.Unlock()
		return tok, nil
	}
	f := c.flight
	joined := f != nil
	if f == nil {
		f = &tokenFlight{done: make(chan struct{})}
		c.flight = f
		go c.refresh(context.WithoutCancel(ctx), f)
	}
	c.mu.Unlock()
	if joined && c.onJoin != nil {
		c.onJoin()
	}
	select {
	case <-f.done:
		return f.tok, f.err
	case <-ctx.Done():
		return "", contextError(http.MethodPost, tokenPath, ctx.Err())
	}
}

func (c *Client) refresh(ctx context.Context, f *tokenFlight) {
	ctx, cancel := context.WithTimeout(ctx, tokenFetchTimeout)
	defer cancel()
	tok, refreshAt, err := c.fetchToken(ctx)
	c.mu.Lock()
	if err == nil {
		c.token, c.refreshAt = tok, refreshAt
	}
	c.flight = nil
	f.tok, f.err = tok, err
	c.mu.Unlock()
	close(f.done)
}

// invalidate drops tok if it is still the cached token (a concurrent caller may already have
// replaced it, and that newer token must not be thrown away).
func (c *Client) invalidate(tok string) {
	c.mu.Lock()
	if c.token == tok {
		c.token = ""
	}
	c.mu.Unlock()
}

// fetchToken performs the grant and returns the token and when to refresh it. Any 2xx
// reply is accepted (the docs say 201, samples see 200).
func (c *Client) fetchToken(ctx context.Context) (string, time.Time, error) {
	x := &tokenExchange{c: c, ctx: ctx}
	issued := c.now() // before sending: the lifetime counts from the platform's clock
	t, err := c.grant.Token(context.WithValue(ctx, oauth2.HTTPClient, x.httpClient()))
	if err != nil {
		return "", time.Time{}, c.tokenError(ctx, x, err)
	}
	if t.TokenType != "" && !strings.EqualFold(t.TokenType, "bearer") {
		return "", time.Time{}, fmt.Errorf("epc: POST %s: unsupported token_type %s", tokenPath, strconv.Quote(t.TokenType))
	}
	return t.AccessToken, issued.Add(c.refreshAfter(lifetime(t))), nil
}

// tokenError classifies a failed grant as every other exchange is: a non-2xx reply is an
// *APIError (429 and 5xx retryable), a failure on the wire a retryable *APIError with
// Status 0, a reply that cannot be used a permanent error. None carries the library's own
// text of a reply, which may echo the secret.
func (c *Client) tokenError(ctx context.Context, x *tokenExchange, err error) error {
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re) && re.Response != nil && !is2xx(re.Response.StatusCode):
		return c.apiError(http.MethodPost, tokenPath, &reply{status: re.Response.StatusCode, header: re.Response.Header, body: re.Body})
	case re != nil: // a 2xx whose body is an OAuth error
		return fmt.Errorf("epc: POST %s: token reply is an error: %s", tokenPath, c.redact(platformMessage(re.Body)))
	case x.failed != nil || ctx.Err() != nil:
		return c.transportError(ctx, http.MethodPost, tokenPath, x.failedOr(err))
	}
	return fmt.Errorf("epc: POST %s: decode token reply: %w", tokenPath, c.redactErr(err))
}

// lifetime is how long a token lives: its expires_in, or the documented 2 h when the reply
// gives none (or a nonsensical one).
func lifetime(t *oauth2.Token) time.Duration {
	if t.Expiry.IsZero() {
		return defaultTokenLifetime
	}
	// The library set Expiry from its clock when the reply came, a moment ago.
	if life := time.Until(t.Expiry).Round(time.Second); life > 0 {
		return life
	}
	return defaultTokenLifetime
}

// refreshAfter is how long a token with the given lifetime is used: its lifetime minus the
// leeway, or half its lifetime when the leeway would leave nothing.
func (c *Client) refreshAfter(life time.Duration) time.Duration {
	if c.leeway >= life {
		return life / 2
	}
	return life - c.leeway
}
