package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/epcflow/epcflow/internal/traced"
)

// RequestIDHeader carries the request id, taken from the request when sane and always echoed.
const RequestIDHeader = "X-Request-Id"

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyTransactionID
	keyLogger
)

// LoggerFrom returns the request's logger: the configured one with requestId and, once a
// handler knows it, transactionId. Outside a request served by this package it returns
// slog.Default().
func LoggerFrom(c *gin.Context) *slog.Logger {
	if v, ok := c.Get(keyLogger); ok {
		if l, ok := v.(*slog.Logger); ok {
			return l
		}
	}
	return slog.Default()
}

// setTransactionID records the transaction a request is about, for the access log and for
// every later LoggerFrom line.
func setTransactionID(c *gin.Context, id string) {
	c.Set(keyTransactionID, id)
	c.Set(keyLogger, LoggerFrom(c).With("transactionId", id))
}

func (s *server) requestID(c *gin.Context) {
	id := c.GetHeader(RequestIDHeader)
	if !saneRequestID(id) {
		id = newRequestID()
	}
	c.Set(keyRequestID, id)
	c.Set(keyLogger, s.log.With(append([]any{"requestId", id}, traced.LogArgs(c.Request.Context())...)...))
	c.Header(RequestIDHeader, id)
	c.Next()
}

// saneRequestID accepts an upstream id only if it cannot garble a log line or a header.
func saneRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:", r)) {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics rather than return an error)
	return hex.EncodeToString(b[:])
}

// accessLog writes one line per request, at Info only when it is something to act on or
// that changed something (see accessLevel). Bodies, headers and query strings are never
// logged: they may carry signatures, tokens or borrower data.
func (s *server) accessLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	status := c.Writer.Status()
	route := c.FullPath()
	attrs := []slog.Attr{
		slog.String("method", c.Request.Method),
		slog.String("route", route),
		slog.String("path", truncate(c.Request.URL.Path, 256)),
		slog.Int("status", status),
		slog.Duration("duration", time.Since(start)),
		slog.Int("bytes", c.Writer.Size()),
	}
	if len(c.Errors) > 0 {
		// Bounded: an error may quote what the client sent.
		attrs = append(attrs, slog.String("error", truncate(c.Errors.Last().Error(), 1024)))
	}
	// LoggerFrom carries requestId, and transactionId when a handler set it.
	LoggerFrom(c).LogAttrs(c.Request.Context(), accessLevel(c.Request.Method, route, status), "http request", attrs...)
}

// accessLevel keeps Info and above for what an operator acts on: failures (Error), refusals
// (Warn) and requests that changed something (Info). Reads, the Temporal UI's payload
// decoding, probes and scrapes, and a read of something that is not there (a poller waiting
// for an order to appear) are Debug: the caller got its answer, and a quiet stack stays quiet.
func accessLevel(method, route string, status int) slog.Level {
	read := method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
	switch {
	case status >= 500:
		return slog.LevelError
	case status == http.StatusNotFound && read:
		return slog.LevelDebug
	case status >= 400:
		return slog.LevelWarn
	case read, route == "/codec/*op":
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// recovery turns a panic into a 500 that tells the client nothing about our internals; the
// panic and its stack go to the log.
func (s *server) recovery(c *gin.Context) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if v == http.ErrAbortHandler { // the handler's way to drop the connection
			panic(v)
		}
		LoggerFrom(c).Error("panic while serving request", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		if c.Writer.Written() {
			c.Abort()
			return
		}
		// The request id is in the X-Request-Id header, to quote when reporting it.
		abort(c, http.StatusInternalServerError, CodeInternal, "internal error")
	}()
	c.Next()
}

// operatorAuth requires the operator token, when one is configured. Both sides are hashed
// before the constant-time compare so that not even the token's length leaks.
func (s *server) operatorAuth(c *gin.Context) {
	if s.cfg.OperatorToken == "" {
		c.Next()
		return
	}
	got, ok := bearer(c.GetHeader("Authorization"))
	want := sha256.Sum256([]byte(s.cfg.OperatorToken))
	have := sha256.Sum256([]byte(got))
	if !ok || subtle.ConstantTimeCompare(want[:], have[:]) != 1 {
		c.Header("WWW-Authenticate", `Bearer realm="epcflow"`)
		abort(c, http.StatusUnauthorized, CodeUnauthorized, "operator token required: Authorization: Bearer <token>")
		return
	}
	c.Next()
}

func bearer(h string) (string, bool) {
	const scheme = "bearer "
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false
	}
	return strings.TrimSpace(h[len(scheme):]), true
}

// sameOrigin refuses a state-changing request that a browser sends from another origin: a
// page elsewhere must not make an operator's browser (or, with the operator endpoints open
// in development, any browser) act on orders. Browsers say where a request comes from
// (Sec-Fetch-Site, Origin); callers that are not browsers send neither and are let through,
// as are same-origin requests and safe methods (GET, HEAD, OPTIONS). See
// http.CrossOriginProtection.
func (s *server) sameOrigin(c *gin.Context) {
	if err := s.crossOrigin.Check(c.Request); err != nil {
		abort(c, http.StatusForbidden, CodeForbidden, "cross-origin requests from a browser may not change state here")
		return
	}
	c.Next()
}
