package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/epcflow/epcflow/schemas"
	"github.com/epcflow/epcflow/starter"
)

// errorBody is every error answer: a sentence, and for invalid input every problem found.
type errorBody struct {
	Error    string            `json:"error"`
	Problems []schemas.Problem `json:"problems,omitempty"`
}

func writeProblems(c *gin.Context, status int, msg string, probs []schemas.Problem) {
	c.AbortWithStatusJSON(status, errorBody{Error: msg, Problems: probs})
}

func writeError(c *gin.Context, status int, msg string) {
	c.AbortWithStatusJSON(status, errorBody{Error: msg})
}

// unavailable answers 503 with Retry-After: the caller should try again shortly.
func unavailable(c *gin.Context, msg string) {
	c.Header("Retry-After", retryAfterSeconds)
	writeError(c, http.StatusServiceUnavailable, msg)
}

func tooLarge(c *gin.Context, limit int64) {
	c.AbortWithStatusJSON(http.StatusRequestEntityTooLarge, gin.H{
		"error":  "request body too large",
		"detail": fmt.Sprintf("limit is %d bytes", limit),
	})
}

// engineError answers an Engine failure on a /v1 endpoint. ctx is the call's context, to tell
// our own deadline from an unreachable engine.
func engineError(c *gin.Context, ctx context.Context, txID string, err error) {
	_ = c.Error(err) // for the access log
	switch {
	case errors.Is(err, starter.ErrNotFound):
		writeError(c, http.StatusNotFound, fmt.Sprintf("transaction %s not found", txID))
	case errors.Is(err, starter.ErrRejected):
		writeError(c, http.StatusConflict, rejection(err))
	case errors.Is(err, starter.ErrClosed):
		writeError(c, http.StatusConflict, fmt.Sprintf("transaction %s is closed", txID))
	case errors.Is(ctx.Err(), context.DeadlineExceeded) && c.Request.Context().Err() == nil:
		writeError(c, http.StatusGatewayTimeout, fmt.Sprintf(
			"no answer from the workflow in time; the action may still complete: check GET /v1/transactions/%s", txID))
	case errors.Is(err, starter.ErrUnavailable), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		unavailable(c, "the workflow engine is unavailable; try again shortly")
	default:
		writeError(c, http.StatusInternalServerError, "internal error")
	}
}

// rejection extracts the workflow's own message from a starter.ErrRejected error, which reads
// "action rejected: <message>".
func rejection(err error) string {
	msg := err.Error()
	if m, ok := strings.CutPrefix(msg, starter.ErrRejected.Error()+": "); ok && m != "" {
		return m
	}
	return msg
}

// sortProblems orders problems by pointer, then message, so answers are stable.
func sortProblems(ps []schemas.Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Pointer != ps[j].Pointer {
			return ps[i].Pointer < ps[j].Pointer
		}
		return ps[i].Message < ps[j].Message
	})
}

// pointerTo is the JSON pointer of a top-level member (RFC 6901 escaping).
func pointerTo(name string) string {
	return "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(name)
}
