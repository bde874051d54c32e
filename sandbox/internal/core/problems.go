package core

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/epcflow/epcflow/schemas"
)

// Problems collects validation problems with JSON pointers.
type Problems []schemas.Problem

// Add records a problem at pointer.
func (p *Problems) Add(pointer, format string, args ...any) {
	*p = append(*p, schemas.Problem{Pointer: pointer, Message: fmt.Sprintf(format, args...)})
}

// Pointer joins JSON pointer tokens, escaping them (RFC 6901).
func Pointer(base string, tokens ...any) string {
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

// DecodeObject decodes a JSON object into its members; anything else is reported at ptr.
func DecodeObject(raw json.RawMessage, ptr string, ps *Problems) (map[string]json.RawMessage, bool) {
	if schemas.JSONKind(raw) != "object" {
		ps.Add(ptr, "must be an object, got %s", schemas.JSONKind(raw))
		return nil, false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		ps.Add(ptr, "not a valid object: %v", err)
		return nil, false
	}
	return m, true
}

// DecodeArray decodes a JSON array into its items; anything else is reported at ptr as
// "must be <what>, got <kind>".
func DecodeArray(raw json.RawMessage, ptr, what string, ps *Problems) ([]json.RawMessage, bool) {
	var items []json.RawMessage
	if schemas.JSONKind(raw) != "array" || json.Unmarshal(raw, &items) != nil {
		ps.Add(ptr, "must be %s, got %s", what, schemas.JSONKind(raw))
		return nil, false
	}
	return items, true
}

// EachObject decodes each item as an object (reporting those that are not at their
// pointers) and hands it to f with its pointer, ptr/i.
func EachObject(items []json.RawMessage, ptr string, ps *Problems, f func(ptr string, obj map[string]json.RawMessage)) {
	for i, raw := range items {
		iptr := Pointer(ptr, i)
		if obj, ok := DecodeObject(raw, iptr, ps); ok {
			f(iptr, obj)
		}
	}
}

// NonEmptyString decodes a required non-blank string member.
func NonEmptyString(obj map[string]json.RawMessage, key, ptr string, ps *Problems) (string, bool) {
	raw, ok := obj[key]
	if !ok {
		ps.Add(Pointer(ptr, key), "required")
		return "", false
	}
	return StringValue(raw, Pointer(ptr, key), ps, true)
}

// StringValue decodes a string (non-blank if nonBlank).
func StringValue(raw json.RawMessage, ptr string, ps *Problems, nonBlank bool) (string, bool) {
	var s string
	if schemas.JSONKind(raw) != "string" || json.Unmarshal(raw, &s) != nil {
		ps.Add(ptr, "must be a string, got %s", schemas.JSONKind(raw))
		return "", false
	}
	if nonBlank && strings.TrimSpace(s) == "" {
		ps.Add(ptr, "must not be blank")
		return "", false
	}
	return s, true
}

// UnknownKeys reports members of obj not in allowed.
func UnknownKeys(obj map[string]json.RawMessage, ptr string, ps *Problems, allowed ...string) {
	for _, k := range SortedKeys(obj) {
		if !slices.Contains(allowed, k) {
			ps.Add(Pointer(ptr, k), "unknown property (allowed: %s)", strings.Join(allowed, ", "))
		}
	}
}

// DecodeFields decodes the members of obj into the targets named in fields, reporting unknown
// members and type mismatches at their pointers.
func DecodeFields(obj map[string]json.RawMessage, ptr string, ps *Problems, fields map[string]any) {
	UnknownKeys(obj, ptr, ps, SortedKeys(fields)...)
	for _, k := range SortedKeys(obj) {
		target, ok := fields[k]
		if !ok {
			continue
		}
		if err := json.Unmarshal(obj[k], target); err != nil {
			ps.Add(Pointer(ptr, k), "%s", JSONMessage(err))
		}
	}
}

// InvalidIf is nil without problems, else Invalid(what, ps).
func InvalidIf(what string, ps Problems) error {
	if len(ps) == 0 {
		return nil
	}
	return Invalid(what, ps)
}
