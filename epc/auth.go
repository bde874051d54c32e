package epc

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

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

// fetchToken performs the OAuth2 client-credentials grant and returns the token and when to
// refresh it.
func (c *Client) fetchToken(ctx context.Context) (string, time.Time, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {tokenScope}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+tokenPath, strings.NewReader(form.Encode()))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("epc: POST %s: build request: %w", tokenPath, sanitizeURLError(err))
	}
	req.SetBasicAuth(c.id, c.secret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	issued := c.now() // before sending: the lifetime counts from the platform's clock
	rep, err := c.exchange(ctx, req, tokenPath)
	if err != nil {
		return "", time.Time{}, err
	}
	if !is2xx(rep.status) {
		return "", time.Time{}, c.apiError(http.MethodPost, tokenPath, rep)
	}
	var t Token
	if err := json.Unmarshal(rep.body, &t); err != nil {
		return "", time.Time{}, fmt.Errorf("epc: POST %s: decode token reply: %w", tokenPath, err)
	}
	if t.AccessToken == "" {
		return "", time.Time{}, fmt.Errorf("epc: POST %s: token reply has no access_token", tokenPath)
	}
	if t.TokenType != "" && !strings.EqualFold(t.TokenType, "bearer") {
		return "", time.Time{}, fmt.Errorf("epc: POST %s: unsupported token_type %s", tokenPath, strconv.Quote(t.TokenType))
	}
	return t.AccessToken, issued.Add(c.refreshAfter(t.ExpiresIn)), nil
}

// refreshAfter is how long a token with the given lifetime is used: its lifetime minus the
// leeway, or half its lifetime when the leeway would leave nothing.
func (c *Client) refreshAfter(expiresIn int) time.Duration {
	life := defaultTokenLifetime
	if expiresIn > 0 {
		life = time.Duration(expiresIn) * time.Second
	}
	if c.leeway >= life {
		return life / 2
	}
	return life - c.leeway
}
