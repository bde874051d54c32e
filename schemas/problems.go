package schemas

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// problems flattens the library's error tree into leaf problems. Inner nodes ("doesn't
// validate with …", "if-then failed", the root wrapper) only say where the walk went, so
// they are dropped; anyOf/oneOf are kept as one problem, since their branches' leaves
// contradict each other.
func (v *Validator) problems(root *jsonschema.ValidationError, inst any) []Problem {
	var out []Problem
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		kw := lastToken(e.AbsoluteKeywordLocation)
		if len(e.Causes) == 0 || kw == "anyOf" || kw == "oneOf" {
			out = append(out, v.describe(e, inst)...)
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(root)
	if len(out) == 0 { // not expected: a failing tree always has a leaf
		out = append(out, Problem{Pointer: instancePointer(root.InstanceLocation), Message: root.Message})
	}
	seen := make(map[Problem]bool, len(out))
	uniq := out[:0]
	for _, p := range out {
		if !seen[p] {
			seen[p] = true
			uniq = append(uniq, p)
		}
	}
	sortProblems(uniq)
	return uniq
}

// describe words one leaf error from the schema keyword that failed, read from the schema
// document as embedded, and the instance value at the error's pointer. It never echoes the
// instance's values (they may be secrets), only property names and schema constants.
func (v *Validator) describe(e *jsonschema.ValidationError, inst any) []Problem {
	ptr := instancePointer(e.InstanceLocation)
	one := func(msg string) []Problem { return []Problem{{Pointer: ptr, Message: msg}} }

	u, frag, _ := strings.Cut(e.AbsoluteKeywordLocation, "#")
	toks := fragmentTokens(frag)
	if len(toks) == 0 {
		return one(e.Message)
	}
	// dependencies/<name>/<i> is the one keyword whose location goes below the keyword.
	kw, parent, dep := toks[len(toks)-1], toks[:len(toks)-1], ""
	if n := len(toks); n >= 3 && (toks[n-3] == "dependencies" || toks[n-3] == "dependentRequired") && isIndex(toks[n-1]) {
		kw, parent, dep = toks[n-3], toks[:n-3], toks[n-2]
	}
	sch, _ := resolve(v.docs[u], parent).(map[string]any)
	if sch == nil {
		return one(e.Message)
	}
	if msgs, ok := sch["x-messages"].(map[string]any); ok {
		if m, ok := msgs[kw].(string); ok {
			return one(m)
		}
	}
	val := resolve(inst, pointerTokens(ptr))

	switch kw {
	case "required":
		obj, _ := val.(map[string]any)
		var ps []Problem
		for _, r := range asStrings(sch["required"]) {
			if _, ok := obj[r]; !ok {
				ps = append(ps, Problem{Pointer: ptr, Message: "missing property " + strconv.Quote(r)})
			}
		}
		if len(ps) > 0 {
			return ps
		}
	case "additionalProperties":
		obj, _ := val.(map[string]any)
		props, _ := sch["properties"].(map[string]any)
		patterns, _ := sch["patternProperties"].(map[string]any)
		var ps []Problem
		for name := range obj {
			if _, ok := props[name]; ok || matchesAny(patterns, name) {
				continue
			}
			ps = append(ps, Problem{Pointer: ptr, Message: "property " + strconv.Quote(name) + " is not allowed"})
		}
		if len(ps) > 0 {
			return ps
		}
	case "dependencies", "dependentRequired":
		need, _ := resolve(v.docs[u], toks).(string)
		if need != "" {
			return one(fmt.Sprintf("missing property %q (required when %q is present)", need, dep))
		}
	case "enum":
		if vals, ok := sch["enum"].([]any); ok {
			return one("must be one of " + jsonList(vals))
		}
	case "const":
		return one("must be " + jsonText(sch["const"]))
	case "pattern":
		if p, ok := sch["pattern"].(string); ok {
			if m, ok := patternMessage(p); ok {
				return one(m)
			}
			return one("does not match pattern " + strconv.Quote(p))
		}
	case "type":
		want := strings.Join(asStrings(sch["type"]), " or ")
		if t, ok := sch["type"].(string); ok {
			want = t
		}
		return one(fmt.Sprintf("must be of type %s, got %s", want, jsonType(val)))
	case "format":
		if f, ok := sch["format"].(string); ok {
			return one("must be a valid " + f)
		}
	case "minItems":
		return one("must have at least " + count(sch[kw], "item"))
	case "maxItems":
		return one("must have at most " + count(sch[kw], "item"))
	case "minProperties":
		return one("must have at least " + count(sch[kw], "property"))
	case "maxProperties":
		return one("must have at most " + count(sch[kw], "property"))
	case "minLength":
		return one("must be at least " + count(sch[kw], "character") + " long")
	case "maxLength":
		return one("must be at most " + count(sch[kw], "character") + " long")
	case "minimum":
		return one("must be >= " + jsonText(sch[kw]))
	case "maximum":
		return one("must be <= " + jsonText(sch[kw]))
	case "exclusiveMinimum":
		return one("must be > " + jsonText(sch[kw]))
	case "exclusiveMaximum":
		return one("must be < " + jsonText(sch[kw]))
	case "anyOf":
		return one("does not match any of the allowed forms")
	case "oneOf":
		if len(e.Causes) > 0 {
			return one("does not match any of the allowed forms")
		}
	}
	return one(e.Message)
}

// instancePointer turns the library's instance location, whose tokens are URL-path-escaped,
// into an RFC 6901 JSON pointer ("" for the root).
func instancePointer(loc string) string {
	if loc == "" {
		return ""
	}
	toks := strings.Split(strings.TrimPrefix(loc, "/"), "/")
	for i, t := range toks {
		if s, err := url.PathUnescape(t); err == nil {
			toks[i] = s
		}
	}
	return "/" + strings.Join(toks, "/")
}

// pointerTokens splits a JSON pointer; tokens stay ~-escaped.
func pointerTokens(p string) []string {
	if p == "" {
		return nil
	}
	return strings.Split(strings.TrimPrefix(p, "/"), "/")
}

// fragmentTokens splits a schema location fragment into ~-escaped pointer tokens.
func fragmentTokens(frag string) []string {
	toks := pointerTokens(frag)
	for i, t := range toks {
		if s, err := url.PathUnescape(t); err == nil {
			toks[i] = s
		}
	}
	return toks
}

func lastToken(loc string) string {
	if i := strings.LastIndexAny(loc, "/#"); i >= 0 {
		return loc[i+1:]
	}
	return loc
}

// ValueAt is the value the JSON pointer ptr (RFC 6901, as in Problem.Pointer; "" is the
// whole document) leads to in a decoded JSON document; nil where there is none.
func ValueAt(doc any, ptr string) any { return resolve(doc, pointerTokens(ptr)) }

// resolve follows ~-escaped pointer tokens through a decoded JSON value; nil if absent.
func resolve(doc any, toks []string) any {
	for _, t := range toks {
		t = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
		switch d := doc.(type) {
		case map[string]any:
			doc = d[t]
		case []any:
			i, err := strconv.Atoi(t)
			if err != nil || i < 0 || i >= len(d) {
				return nil
			}
			doc = d[i]
		default:
			return nil
		}
	}
	return doc
}

func asStrings(v any) []string {
	arr, _ := v.([]any)
	out := make([]string, 0, len(arr))
	for _, x := range arr {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func matchesAny(patterns map[string]any, name string) bool {
	for p := range patterns {
		if re, err := regexp.Compile(p); err == nil && re.MatchString(name) {
			return true
		}
	}
	return false
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func jsonList(vals []any) string {
	parts := make([]string, len(vals))
	for i, x := range vals {
		parts[i] = jsonText(x)
	}
	return strings.Join(parts, ", ")
}

func count(n any, noun string) string {
	s := jsonText(n)
	if s != "1" {
		switch {
		case strings.HasSuffix(noun, "y"):
			noun = strings.TrimSuffix(noun, "y") + "ies"
		default:
			noun += "s"
		}
	}
	return s + " " + noun
}

func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number:
		if !strings.ContainsAny(string(x), ".eE") {
			return "integer"
		}
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}
