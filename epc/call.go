package epc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// reply is a completed exchange: any status, bounded body.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// callJSON is call plus decoding a required JSON reply body into out.
func (c *Client) callJSON(ctx context.Context, method, p string, in, out any) error {
	rep, err := c.call(ctx, method, p, in)
	if err != nil {
		return err
	}
	return decodeReply(method, p, rep.body, out)
}

func decodeReply(method, p string, body []byte, out any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return fmt.Errorf("epc: %s %s: empty response body", method, p)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("epc: %s %s: decode response: %w", method, p, err)
	}
	return nil
}

// call is callOnce, with a GET tried again after a failure that may pass (see
// Config.ReadRetries). Under a 30% error rate an activity that reads three times would
// otherwise fail two attempts in three and wait out Temporal's growing retry intervals.
func (c *Client) call(ctx context.Context, method, p string, in any) (*reply, error) {
	wait := c.readBackoff
	for try := 0; ; try++ {
		rep, err := c.callOnce(ctx, method, p, in)
		if err == nil || method != http.MethodGet || try >= c.readRetries || !IsRetryable(err) || ctx.Err() != nil {
			return rep, err
		}
		d := max(wait, RetryAfter(err))
		if d > maxReadRetryWait {
			return nil, err
		}
		c.log.DebugContext(ctx, "epc read failed, trying again", slog.String("path", p), slog.Duration("wait", d), slog.Int("try", try+1), slog.Any("error", err))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
		wait *= 2
	}
}

// callOnce sends an authenticated Partner API request and returns a 2xx reply. On a 401 it
// drops the token, fetches a new one and tries once more; a second 401 is surfaced as final.
func (c *Client) callOnce(ctx context.Context, method, p string, in any) (*reply, error) {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return nil, fmt.Errorf("epc: %s %s: encode request: %w", method, p, err)
		}
	}
	for attempt := 1; ; attempt++ {
		tok, err := c.accessToken(ctx)
		if err != nil {
			return nil, fmt.Errorf("epc: %s %s: access token: %w", method, p, err)
		}
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, c.base+p, rd)
		if err != nil {
			return nil, fmt.Errorf("epc: %s %s: build request: %w", method, p, sanitizeURLError(err))
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", c.ua)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		rep, err := c.exchange(ctx, req, p)
		if err != nil {
			return nil, err
		}
		if rep.status == http.StatusUnauthorized && attempt == 1 {
			c.invalidate(tok)
			continue
		}
		if !is2xx(rep.status) {
			return nil, c.apiError(method, p, rep, tok)
		}
		return rep, nil
	}
}

// exchange sends req, logs one line and reads the bounded reply. Transport failures become
// *APIError with Status 0.
func (c *Client) exchange(ctx context.Context, req *http.Request, logPath string) (*reply, error) {
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		ae := c.transportError(ctx, req.Method, logPath, err)
		c.logExchange(ctx, req.Method, logPath, 0, time.Since(start), ae)
		return nil, ae
	}
	defer resp.Body.Close()
	limit := int64(MaxResponseBytes)
	if !is2xx(resp.StatusCode) {
		limit = maxErrorBody
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		ae := c.transportError(ctx, req.Method, logPath, err)
		c.logExchange(ctx, req.Method, logPath, resp.StatusCode, time.Since(start), ae)
		return nil, ae
	}
	c.logExchange(ctx, req.Method, logPath, resp.StatusCode, time.Since(start), nil)
	if int64(len(body)) > limit {
		if is2xx(resp.StatusCode) {
			return nil, fmt.Errorf("%w: %s %s: over %d bytes", ErrResponseTooLarge, req.Method, logPath, MaxResponseBytes)
		}
		body = body[:limit] // only read for its message
	}
	return &reply{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

func (c *Client) logExchange(ctx context.Context, method, p string, status int, d time.Duration, err error) {
	attrs := []slog.Attr{
		slog.String("method", method),
		slog.String("path", p),
		slog.Int("status", status),
		slog.Duration("duration", d),
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "epc http", attrs...)
}

// transportError wraps a failed exchange. Refused, reset and timed-out exchanges are
// retryable, including a context deadline (the platform was slow); a canceled context is not:
// the caller gave up.
func (c *Client) transportError(ctx context.Context, method, p string, err error) *APIError {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return contextError(method, p, ctxErr)
	}
	return &APIError{Method: method, Path: p, Retryable: true, Err: c.redactErr(sanitizeURLError(err))}
}

func contextError(method, p string, err error) *APIError {
	return &APIError{Method: method, Path: p, Retryable: !errors.Is(err, context.Canceled), Err: err}
}

// sanitizeURLError drops the request URL from a *url.Error: an upload location's query is a
// signed grant.
func sanitizeURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// redactErr keeps err's identity for errors.Is/As, but not if its text would leak a secret.
func (c *Client) redactErr(err error) error {
	if s := err.Error(); s != c.redact(s) {
		return errors.New(c.redact(s))
	}
	return err
}

// apiError describes a non-2xx reply; also redacts the token that request used, which may no
// longer be the cached one.
func (c *Client) apiError(method, p string, rep *reply, usedToken ...string) *APIError {
	return &APIError{
		Method:     method,
		Path:       p,
		Status:     rep.status,
		Message:    c.redact(platformMessage(rep.body), usedToken...),
		RetryAfter: parseRetryAfter(rep.header.Get("Retry-After"), c.now()),
		Retryable:  retryableStatus(rep.status),
	}
}

// redact removes the client secret and the cached access token from text the platform sent
// back, in case a reply echoes them.
func (c *Client) redact(s string, more ...string) string {
	c.mu.Lock()
	tok := c.token
	c.mu.Unlock()
	for _, secret := range append([]string{c.secret, tok}, more...) {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, redacted)
		}
	}
	return s
}

func is2xx(status int) bool { return status >= 200 && status < 300 }
