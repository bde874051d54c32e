package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/epcflow/epcflow/schemas"
)

// maxJSONBytes bounds the operator JSON bodies other than a delivery.
const maxJSONBytes = 64 << 10

// Field limits, the same as the workflow's validators, so the API can name the field.
const (
	maxTextLen     = 200
	maxCommentsLen = 2000
	maxNameLen     = 200
)

// readBody reads at most limit bytes of the request body. On failure it has answered
// (413 or 400) and returns false.
func readBody(c *gin.Context, limit int64) ([]byte, bool) {
	if c.Request.ContentLength > limit {
		tooLarge(c, limit)
		return nil, false
	}
	b, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			tooLarge(c, limit)
		} else {
			bodyFailed(c, err)
		}
		return nil, false
	}
	return b, true
}

// requireJSON answers 415 unless the request says its body is JSON. An empty or text/plain
// Content-Type is refused too: those are what a cross-site HTML form can send without the
// browser asking the API first (CORS preflight).
func requireJSON(c *gin.Context) bool {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err == nil && isJSONType(mt) {
		return true
	}
	abort(c, http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "the body must be JSON: Content-Type: application/json")
	return false
}

// isJSONType reports whether a parsed media type is JSON.
func isJSONType(mt string) bool { return mt == "application/json" || strings.HasSuffix(mt, "+json") }

// object reads a JSON object strictly: a single value, an object, members of the expected
// types, no unknown member. Every problem is collected with its pointer, not just the first.
type object struct {
	members map[string]json.RawMessage
	used    map[string]bool
	probs   []schemas.Problem
	invalid bool // not a JSON object at all: member problems would only be noise
}

// decodeObject parses body as exactly one JSON object. A body that is not one gets a single
// problem at the root pointer "".
func decodeObject(body []byte) *object {
	o := &object{used: map[string]bool{}}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&o.members); err != nil {
		o.invalid = true
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			o.add("", "must be a JSON object")
		} else {
			o.add("", jsonSyntaxMessage(err))
		}
		return o
	}
	if o.members == nil { // the body was null
		o.invalid = true
		o.add("", "must be a JSON object")
		return o
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		o.add("", "invalid JSON: unexpected data after the top-level value")
	}
	return o
}

func jsonSyntaxMessage(err error) string {
	var se *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF):
		return "invalid JSON: empty body"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "invalid JSON: unexpected end of input"
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte offset %d: %s", se.Offset, se.Error())
	}
	return "invalid JSON"
}

func (o *object) add(ptr, msg string) {
	o.probs = append(o.probs, schemas.Problem{Pointer: ptr, Message: msg})
}

// raw returns a member; null counts as absent.
func (o *object) raw(name string) (json.RawMessage, bool) {
	o.used[name] = true
	r, ok := o.members[name]
	if !ok || string(bytes.TrimSpace(r)) == "null" {
		return nil, false
	}
	return r, true
}

// str reads a string member. A required one must not be blank.
func (o *object) str(name string, required bool, maxLen int) string {
	r, ok := o.raw(name)
	if !ok {
		if required {
			o.add(pointerTo(name), "required")
		}
		return ""
	}
	var s string
	if json.Unmarshal(r, &s) != nil {
		o.add(pointerTo(name), "must be a string")
		return ""
	}
	if msg := checkString(s, required, maxLen); msg != "" {
		o.add(pointerTo(name), msg)
		return ""
	}
	return s
}

// time reads an RFC 3339 date-time member.
func (o *object) time(name string, required bool) time.Time {
	s := o.str(name, required, 64)
	if s == "" {
		return time.Time{}
	}
	t, msg := parseTime(s)
	if msg != "" {
		o.add(pointerTo(name), msg)
	}
	return t
}

// positiveInt reads a member that must be a JSON number holding a positive whole number.
func (o *object) positiveInt(name string, required bool, what string) int64 {
	r, ok := o.raw(name)
	if !ok {
		if required {
			o.add(pointerTo(name), "required")
		}
		return 0
	}
	var n json.Number
	// json.Number would also take "500000" (a string): require a JSON number.
	if t := bytes.TrimSpace(r); len(t) == 0 || t[0] == '"' || json.Unmarshal(t, &n) != nil {
		o.add(pointerTo(name), "must be a number: "+what)
		return 0
	}
	v, msg := parsePositiveInt(n.String(), what)
	if msg != "" {
		o.add(pointerTo(name), msg)
	}
	return v
}

// problems reports unknown members and returns every problem, sorted.
func (o *object) problems() []schemas.Problem {
	if o.invalid {
		return o.probs[:1]
	}
	for name := range o.members {
		if !o.used[name] {
			o.add(pointerTo(name), "unknown field")
		}
	}
	sortProblems(o.probs)
	return o.probs
}

func checkString(s string, required bool, maxLen int) string {
	switch {
	case !utf8.ValidString(s):
		return "must be valid UTF-8"
	case required && strings.TrimSpace(s) == "":
		return "required (not blank)"
	case utf8.RuneCountInString(s) > maxLen:
		return fmt.Sprintf("must be at most %d characters", maxLen)
	}
	return ""
}

func parseTime(s string) (time.Time, string) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, "must be an RFC 3339 date-time, e.g. 2026-07-01T14:00:00Z"
	}
	if t.IsZero() {
		// Go's zero time means "not given" to the workflow, which would refuse the action
		// with 409 (or drop the value) instead of this precise 400.
		return time.Time{}, "must be a date-time after 0001-01-01T00:00:00Z"
	}
	return t, ""
}

func parsePositiveInt(s, what string) (int64, string) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		return 0, "must be a positive whole number: " + what
	}
	return v, ""
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
