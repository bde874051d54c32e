package core

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/epcflow/epcflow/schemas"
)

// MaxJSONBody bounds every JSON request body (loan data can be large, but not this large).
const MaxJSONBody = 8 << 20

// ReadBody reads at most limit bytes of r's body: a 413 beyond (what names the body in the
// message), a 400 if reading fails.
func ReadBody(r *http.Request, limit int64, what string) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, Errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "%s over %d bytes", what, limit)
		}
		return nil, Errorf(http.StatusBadRequest, CodeInvalidRequest, "read body: %v", err)
	}
	return body, nil
}

// ReadJSON reads a JSON body: Content-Type must be application/json (or a +json type) and the
// body one well-formed JSON value. It returns the raw bytes; nil for an empty body when
// allowEmpty.
func ReadJSON(r *http.Request, allowEmpty bool) ([]byte, error) {
	body, err := ReadBody(r, MaxJSONBody, "body")
	if err != nil {
		return nil, err
	}
	if allowEmpty && len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	if err := CheckJSONType(r.Header.Get("Content-Type")); err != nil {
		return nil, err
	}
	if err := CheckJSONSyntax(body); err != nil {
		return nil, err
	}
	return body, nil
}

// ReadObject reads a JSON object body into its members (nil for an empty body when
// allowEmpty); a body that is no object is a 400 whose message starts with what.
func ReadObject(r *http.Request, allowEmpty bool, what string) (map[string]json.RawMessage, error) {
	body, err := ReadJSON(r, allowEmpty)
	if err != nil || body == nil {
		return nil, err
	}
	var ps Problems
	obj, ok := DecodeObject(body, "", &ps)
	if !ok {
		return nil, Invalid(what, ps)
	}
	return obj, nil
}

// IsJSONType reports whether a Content-Type is application/json or a +json type.
func IsJSONType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// CheckJSONType is the 415 unless ct is a JSON media type.
func CheckJSONType(ct string) error {
	if ct == "" {
		return Errorf(http.StatusUnsupportedMediaType, CodeUnsupportedType, "Content-Type required: application/json")
	}
	if !IsJSONType(ct) {
		return Errorf(http.StatusUnsupportedMediaType, CodeUnsupportedType, "Content-Type %q not supported: application/json required", ct)
	}
	return nil
}

// CheckJSONSyntax reports where a body stops being JSON.
func CheckJSONSyntax(body []byte) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return Errorf(http.StatusBadRequest, CodeInvalidJSON, "body required: a JSON document")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return Errorf(http.StatusBadRequest, CodeInvalidJSON, "body is not valid JSON: %v (at byte %d)", se, se.Offset)
		}
		return Errorf(http.StatusBadRequest, CodeInvalidJSON, "body is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Errorf(http.StatusBadRequest, CodeInvalidJSON, "body is not valid JSON: data after the first value (at byte %d)", dec.InputOffset())
	}
	return nil
}

// Validate runs a named schema over body; a failure is a 400 listing every problem.
func Validate(name string, body []byte) error {
	err := schemas.Default().Validate(name, body)
	if err == nil {
		return nil
	}
	if ps := schemas.Problems(err); len(ps) > 0 {
		return Invalid("body does not match schema "+name, ps)
	}
	return Invalid("body does not match schema "+name+": "+err.Error(), nil)
}

// Unmarshal decodes a body already checked against a schema; what still fails is a 400 at
// the root, worded without Go type names.
func Unmarshal(body []byte, v any, what string) error {
	if err := json.Unmarshal(body, v); err != nil {
		return Invalid(what, []schemas.Problem{{Pointer: "", Message: JSONMessage(err)}})
	}
	return nil
}

// JSONMessage turns a decoding error into a message without Go type names.
func JSONMessage(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("must be a %s, got %s", jsonTypeName(te.Type.Kind().String()), te.Value)
	}
	return err.Error()
}

func jsonTypeName(kind string) string {
	switch kind {
	case "int", "int64", "uint64", "float64":
		return "number"
	case "bool":
		return "boolean"
	case "slice":
		return "array"
	case "map", "struct":
		return "object"
	}
	return kind
}
