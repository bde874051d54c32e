package epc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
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
		req, err := c.newRequest(ctx, method, p, body, tok)
		if err != nil {
			return nil, err
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

// newRequest builds a Partner API request with a JSON body (nil: none) and token.
func (c *Client) newRequest(ctx context.Context, method, p string, body []byte, tok string) (*http.Request, error) {
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
	return req, nil
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

func is2xx(status int) bool { return status >= 200 && status < 300 }
