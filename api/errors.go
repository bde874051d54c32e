package api

import (
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/gin-gonic/gin"

	"github.com/epcflow/epcflow/schemas"
)

// ErrorBody is the one JSON shape of every error answer, on every route: a stable code, a
// sentence for people, and the problems of invalid input, each with the JSON pointer of the
// member it is about and the rule it breaks. Problems is empty, not absent, when there are
// none.
type ErrorBody struct {
	Code     string            `json:"code"`
	Message  string            `json:"message"`
	Problems []schemas.Problem `json:"problems"`
}

// Codes of ErrorBody. The HTTP status stays the contract (ICE retries a 5xx and drops a
// 4xx for good); the code says which refusal it is.
const (
	CodeInvalidRequest       = "invalid_request"        // 400: the body, a parameter or a header is invalid (see problems)
	CodeUnauthorized         = "unauthorized"           // 401: the operator or portal token is missing or wrong
	CodeBadSignature         = "bad_signature"          // 401: the platform's signature is missing, wrong or stale
	CodeForbidden            = "forbidden"              // 403: authenticated, but not allowed to act on this
	CodeNotFound             = "not_found"              // 404: no such route, transaction, session or package
	CodeMethodNotAllowed     = "method_not_allowed"     // 405
	CodeRequestTimeout       = "request_timeout"        // 408: the request did not arrive in time
	CodeConflict             = "conflict"               // 409: refused in the object's current state, or under way
	CodeBodyTooLarge         = "body_too_large"         // 413
	CodeUnsupportedMediaType = "unsupported_media_type" // 415
	CodeIdempotencyKeyReused = "idempotency_key_reused" // 422: the Idempotency-Key came with another request
	CodeTooManyRequests      = "too_many_requests"      // 429: too many attempts; try again after Retry-After
	CodeInternal             = "internal_error"         // 500
	CodeUpstream             = "upstream_failed"        // 502: Inbank or the Delivery Room failed
	CodeUnavailable          = "unavailable"            // 503: not now; try again (see Retry-After)
	CodeTimeout              = "timeout"                // 504: no answer in time; the action may still complete
)

// abort answers an error with ErrorBody and stops the request: the one way every route does.
func abort(c *gin.Context, status int, code, message string, problems ...schemas.Problem) {
	if problems == nil {
		problems = []schemas.Problem{}
	}
	c.AbortWithStatusJSON(status, ErrorBody{Code: code, Message: message, Problems: problems})
}

// invalid answers 400 with every problem found.
func invalid(c *gin.Context, message string, problems []schemas.Problem) {
	abort(c, http.StatusBadRequest, CodeInvalidRequest, message, problems...)
}

// unavailable answers 503 with Retry-After (seconds): the caller should try again shortly.
func unavailable(c *gin.Context, retryAfter, message string) {
	c.Header("Retry-After", retryAfter)
	abort(c, http.StatusServiceUnavailable, CodeUnavailable, message)
}

// bodyFailed answers a request whose body could not be read: 408 when it did not arrive in
// time (the server's read deadline), 400 otherwise.
func bodyFailed(c *gin.Context, err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		abort(c, http.StatusRequestTimeout, CodeRequestTimeout, "the request body did not arrive in time")
		return
	}
	abort(c, http.StatusBadRequest, CodeInvalidRequest, "cannot read the request body")
}

// tooLarge answers 413 with the limit.
func tooLarge(c *gin.Context, limit int64) {
	abort(c, http.StatusRequestEntityTooLarge, CodeBodyTooLarge, fmt.Sprintf("request body too large: limit is %d bytes", limit))
}
