// Package core is what the sandbox's emulators share: the error body and the JSON helpers
// that build it, the one mux every route goes through (fault injection, call observation,
// debug log), webhook delivery with the platforms' retry rules, the clock, background work,
// ids, and the state file's plumbing. It knows nothing of any platform.
package core

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/epcflow/epcflow/schemas"
)

// Error codes of the sandbox's error bodies.
const (
	CodeInvalidJSON     = "invalid_json"
	CodeInvalidRequest  = "invalid_request"
	CodeUnauthorized    = "unauthorized"
	CodeForbidden       = "forbidden"
	CodeNotFound        = "not_found"
	CodeConflict        = "conflict"
	CodeUnsupportedType = "unsupported_media_type"
	CodeTooLarge        = "request_too_large"
	CodeFault           = "sandbox_fault"
)

// APIError is an error reply: {"code","message","details":[{pointer,message}]}, with Header
// added to the reply.
type APIError struct {
	Status  int               `json:"-"`
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Details []schemas.Problem `json:"details,omitempty"`
	Header  http.Header       `json:"-"`
}

func (e *APIError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// Errorf is an error reply with status and code.
func Errorf(status int, code, format string, args ...any) *APIError {
	return &APIError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid is a 400 listing every problem found in a body, sorted by pointer.
func Invalid(message string, problems []schemas.Problem) *APIError {
	slices.SortStableFunc(problems, func(a, b schemas.Problem) int { return strings.Compare(a.Pointer, b.Pointer) })
	if len(problems) == 1 {
		message = fmt.Sprintf("%s: %s", message, problems[0])
	} else if len(problems) > 1 {
		message = fmt.Sprintf("%s: %d problems, first %s", message, len(problems), problems[0])
	}
	return &APIError{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: message, Details: problems}
}

// NotFound is a 404.
func NotFound(format string, args ...any) *APIError {
	return Errorf(http.StatusNotFound, CodeNotFound, format, args...)
}

// Conflict is a 409.
func Conflict(format string, args ...any) *APIError {
	return Errorf(http.StatusConflict, CodeConflict, format, args...)
}

// HandlerFunc is a handler that may fail with an *APIError (any other error is a 500).
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

func (h HandlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h(w, r); err != nil {
		WriteError(w, err)
	}
}

// WriteError writes err as an error reply; anything but an *APIError is a 500.
func WriteError(w http.ResponseWriter, err error) {
	var ae *APIError
	if !errors.As(err, &ae) {
		ae = Errorf(http.StatusInternalServerError, "internal", "internal error: %v", err)
	}
	for k, vs := range ae.Header {
		w.Header()[k] = vs
	}
	WriteJSON(w, ae.Status, ae)
}

// WriteJSON writes v as the JSON reply with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"code":"internal","message":"encode reply"}`, http.StatusInternalServerError)
		return
	}
	WriteRawJSON(w, status, body)
}

// WriteRawJSON writes body, already JSON, as the reply with status.
func WriteRawJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
	_, _ = w.Write([]byte{'\n'})
}

// WriteMarshaled writes v as the JSON reply with status 200, or returns why it cannot be
// encoded. Callers whose v shares state that changes call it under their lock.
func WriteMarshaled(w http.ResponseWriter, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	WriteRawJSON(w, http.StatusOK, body)
	return nil
}
