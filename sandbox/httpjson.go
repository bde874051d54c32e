package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/epcflow/epcflow/schemas"
)

// maxJSONBody bounds every JSON request body (loan data can be large, but not this large).
const maxJSONBody = 8 << 20

// Error codes of the sandbox's error bodies.
const (
	codeInvalidJSON     = "invalid_json"
	codeInvalidRequest  = "invalid_request"
	codeUnauthorized    = "unauthorized"
	codeForbidden       = "forbidden"
	codeNotFound        = "not_found"
	codeConflict        = "conflict"
	codeUnsupportedType = "unsupported_media_type"
	codeTooLarge        = "request_too_large"
	codeFault           = "sandbox_fault"
)

// apiError is an error reply: {"code","message","details":[{pointer,message}]}.
type apiError struct {
	Status  int               `json:"-"`
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Details []schemas.Problem `json:"details,omitempty"`
	header  http.Header
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// invalid is a 400 listing every problem found in a body.
func invalid(message string, problems []schemas.Problem) *apiError {
	slices.SortStableFunc(problems, func(a, b schemas.Problem) int { return strings.Compare(a.Pointer, b.Pointer) })
	if len(problems) == 1 {
		message = fmt.Sprintf("%s: %s", message, problems[0])
	} else if len(problems) > 1 {
		message = fmt.Sprintf("%s: %d problems, first %s", message, len(problems), problems[0])
	}
	return &apiError{Status: http.StatusBadRequest, Code: codeInvalidRequest, Message: message, Details: problems}
}

func notFound(format string, args ...any) *apiError {
	return errorf(http.StatusNotFound, codeNotFound, format, args...)
}

func conflict(format string, args ...any) *apiError {
	return errorf(http.StatusConflict, codeConflict, format, args...)
}

// handlerFunc is a handler that may fail with an *apiError (any other error is a 500).
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (h handlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h(w, r); err != nil {
		writeError(w, err)
	}
}

func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = errorf(http.StatusInternalServerError, "internal", "internal error: %v", err)
	}
	for k, vs := range ae.header {
		w.Header()[k] = vs
	}
	writeJSON(w, ae.Status, ae)
}

// writeJSON writes v as the JSON reply with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"code":"internal","message":"encode reply"}`, http.StatusInternalServerError)
		return
	}
	writeRawJSON(w, status, body)
}

func writeRawJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
	_, _ = w.Write([]byte{'\n'})
}

// readJSON reads a JSON body: Content-Type must be application/json (or a +json type) and the
// body one well-formed JSON value. It returns the raw bytes.
func readJSON(r *http.Request, allowEmpty bool) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxJSONBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errorf(http.StatusRequestEntityTooLarge, codeTooLarge, "body over %d bytes", maxJSONBody)
		}
		return nil, errorf(http.StatusBadRequest, codeInvalidRequest, "read body: %v", err)
	}
	if allowEmpty && len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	if err := checkJSONType(r.Header.Get("Content-Type")); err != nil {
		return nil, err
	}
	if err := checkJSONSyntax(body); err != nil {
		return nil, err
	}
	return body, nil
}

func checkJSONType(ct string) error {
	if ct == "" {
		return errorf(http.StatusUnsupportedMediaType, codeUnsupportedType, "Content-Type required: application/json")
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return errorf(http.StatusUnsupportedMediaType, codeUnsupportedType, "Content-Type %q not supported: application/json required", ct)
	}
	return nil
}

// checkJSONSyntax reports where a body stops being JSON.
func checkJSONSyntax(body []byte) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errorf(http.StatusBadRequest, codeInvalidJSON, "body required: a JSON document")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return errorf(http.StatusBadRequest, codeInvalidJSON, "body is not valid JSON: %v (at byte %d)", se, se.Offset)
		}
		return errorf(http.StatusBadRequest, codeInvalidJSON, "body is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errorf(http.StatusBadRequest, codeInvalidJSON, "body is not valid JSON: data after the first value (at byte %d)", dec.InputOffset())
	}
	return nil
}

// validate runs a named schema over body; a failure is a 400 listing every problem.
func validate(name string, body []byte) error {
	err := schemas.Default().Validate(name, body)
	if err == nil {
		return nil
	}
	if ps := schemas.Problems(err); len(ps) > 0 {
		return invalid("body does not match schema "+name, ps)
	}
	return invalid("body does not match schema "+name+": "+err.Error(), nil)
}

// problems collects validation problems with JSON pointers.
type problems []schemas.Problem

func (p *problems) add(pointer, format string, args ...any) {
	*p = append(*p, schemas.Problem{Pointer: pointer, Message: fmt.Sprintf(format, args...)})
}

// pointer joins JSON pointer tokens, escaping them (RFC 6901).
func pointer(base string, tokens ...any) string {
	var b strings.Builder
	b.WriteString(base)
	for _, t := range tokens {
		b.WriteByte('/')
		s := fmt.Sprint(t)
		s = strings.ReplaceAll(s, "~", "~0")
		s = strings.ReplaceAll(s, "/", "~1")
		b.WriteString(s)
	}
	return b.String()
}

// decodeObject decodes a JSON object into its members; anything else is reported at ptr.
func decodeObject(raw json.RawMessage, ptr string, ps *problems) (map[string]json.RawMessage, bool) {
	if schemas.JSONKind(raw) != "object" {
		ps.add(ptr, "must be an object, got %s", schemas.JSONKind(raw))
		return nil, false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		ps.add(ptr, "not a valid object: %v", err)
		return nil, false
	}
	return m, true
}

// nonEmptyString decodes a required non-blank string member.
func nonEmptyString(obj map[string]json.RawMessage, key, ptr string, ps *problems) (string, bool) {
	raw, ok := obj[key]
	if !ok {
		ps.add(pointer(ptr, key), "required")
		return "", false
	}
	return stringValue(raw, pointer(ptr, key), ps, true)
}

func stringValue(raw json.RawMessage, ptr string, ps *problems, nonBlank bool) (string, bool) {
	var s string
	if schemas.JSONKind(raw) != "string" || json.Unmarshal(raw, &s) != nil {
		ps.add(ptr, "must be a string, got %s", schemas.JSONKind(raw))
		return "", false
	}
	if nonBlank && strings.TrimSpace(s) == "" {
		ps.add(ptr, "must not be blank")
		return "", false
	}
	return s, true
}

// unknownKeys reports members of obj not in allowed.
func unknownKeys(obj map[string]json.RawMessage, ptr string, ps *problems, allowed ...string) {
	for _, k := range sortedKeys(obj) {
		known := false
		for _, a := range allowed {
			if k == a {
				known = true
				break
			}
		}
		if !known {
			ps.add(pointer(ptr, k), "unknown property (allowed: %s)", strings.Join(allowed, ", "))
		}
	}
}

// decodeFields decodes the members of obj into the targets named in fields, reporting unknown
// members and type mismatches at their pointers.
func decodeFields(obj map[string]json.RawMessage, ptr string, ps *problems, fields map[string]any) {
	unknownKeys(obj, ptr, ps, sortedKeys(fields)...)
	for _, k := range sortedKeys(obj) {
		target, ok := fields[k]
		if !ok {
			continue
		}
		if err := json.Unmarshal(obj[k], target); err != nil {
			ps.add(pointer(ptr, k), "%s", jsonMessage(err))
		}
	}
}
