package epc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/epcflow/epcflow/internal/statusline"
)

// ErrResponseTooLarge is returned when a reply body exceeds MaxResponseBytes.
var ErrResponseTooLarge = errors.New("epc: response body too large")

// APIError is a failed call to the platform: a non-2xx reply (Status set) or a transport
// failure (Status 0, Err set). Its text names the method, the URL path (never the query, which
// may carry a signed upload grant), the status and the platform's message; never a header or
// a request body.
type APIError struct {
	Method string
	Path   string
	Status int
	// Message is the platform's explanation: the message/error fields of a JSON body, or a
	// short excerpt of any other body. Known secrets are redacted from it.
	Message string
	// RetryAfter is the platform's Retry-After hint (0 when absent).
	RetryAfter time.Duration
	// Retryable: 429, 5xx and transport failures (timeouts included) may succeed later;
	// other 4xx and a canceled context will not.
	Retryable bool
	// Err is the transport or context error (Status 0), stripped of the request URL.
	Err error
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("epc: ")
	b.WriteString(e.Method)
	b.WriteByte(' ')
	b.WriteString(e.Path)
	b.WriteString(": ")
	if e.Status == 0 {
		if e.Retryable {
			b.WriteString("network error")
		} else {
			b.WriteString("request not completed")
		}
		if e.Err != nil {
			b.WriteString(": ")
			b.WriteString(e.Err.Error())
		}
	} else {
		b.WriteString(statusline.String(e.Status, e.Message))
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

func (e *APIError) Unwrap() error { return e.Err }

// IsRetryable reports whether err, or an error it wraps, is an *APIError worth retrying.
// Errors that are not API errors (bad input, undecodable replies) are not retryable.
func IsRetryable(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Retryable
}

// RetryAfter returns the platform's Retry-After hint carried by err, or 0.
func RetryAfter(err error) time.Duration {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.RetryAfter
	}
	return 0
}

// StatusOf returns the HTTP status carried by err, or 0 when err is not a reply from the
// platform (transport failure, bad input, nil).
func StatusOf(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

// retryableStatus: 429 and 5xx may succeed later; any other 4xx will not (401 is handled by
// the client's token refresh before it is surfaced).
func retryableStatus(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500
}

// parseRetryAfter reads a Retry-After value given as delay-seconds or as an HTTP-date.
// Unparseable and past values give 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		// Cap far beyond any sane hint so the multiplication cannot overflow.
		const maxSeconds = int64(365 * 24 * 3600)
		return time.Duration(min(n, maxSeconds)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d.Round(time.Second)
		}
	}
	return 0
}

// maxMessageLen bounds the platform message kept in an APIError.
const maxMessageLen = 300

// platformMessage extracts a human message from an error body: the usual JSON fields first,
// else a single-line excerpt of the body.
func platformMessage(body []byte) string {
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) == nil {
		var parts []string
		for _, k := range []string{"message", "error", "error_description", "summary", "details", "detail", "title"} {
			if s := jsonText(obj[k]); s != "" && !contains(parts, s) {
				parts = append(parts, s)
			}
		}
		if len(parts) > 0 {
			return excerpt(strings.Join(parts, ": "))
		}
	}
	return excerpt(string(body))
}

// jsonText renders a JSON string, or the message/description of a JSON object, as text.
func jsonText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) == nil {
		for _, k := range []string{"message", "description", "code"} {
			if s := jsonText(obj[k]); s != "" {
				return s
			}
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// excerpt collapses whitespace and control characters and bounds the length, so a body can
// never forge extra log lines or flood an error string.
func excerpt(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsSpace(r) || unicode.IsControl(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
		if b.Len() >= maxMessageLen {
			b.WriteString("…")
			break
		}
	}
	return b.String()
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
