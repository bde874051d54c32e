package schemas

import (
	"bytes"
	"encoding/json"
)

// JSONKind names the JSON type of a raw value ("object", "array", "string", "number",
// "boolean", "null", or "nothing" when empty), for messages such as "must be an object, not
// an array". It looks at the first byte only: the value is assumed to be valid JSON.
func JSONKind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}
