package schemas

import (
	"fmt"
	"regexp"
)

// JSON Schema patterns are ECMA-262 regular expressions; the library compiles them with Go's
// regexp (RE2), which has no lookahead. Seed 003 publishes `^(?!\s*$).+` for its
// non-empty-string definition, which RE2 rejects (the draft-07 meta-schema check fails on
// format "regex", and the library would otherwise panic in regexp.MustCompile). The library
// offers no hook to plug in another regexp engine, so the embedded file stays byte-identical
// to the published schema and New hands the compiler a copy in which each known ECMA-only
// pattern is replaced by an RE2 expression that accepts exactly the same strings.
//
// Under ECMA semantics (no flags) `^(?!\s*$).+` matches a string iff
//   - it contains a character outside ECMA's \s (WhiteSpace + LineTerminator), and
//   - its first character is not a line terminator (\n \r U+2028 U+2029), since `.+` must
//     match at position 0 and `.` excludes line terminators.
//
// So "a\nb" and " \na" match, "\na", "", " ", "\t\n", "\u00a0" do not. RE2's \s and \S are
// ASCII-only, hence the explicit classes: ECMA \s = [\t\n\v\f\r\x{2028}\x{2029}\x{feff}\p{Zs}]
// (\p{Zs} covers space, U+00A0, U+1680, U+2000–U+200A, U+202F, U+205F, U+3000).
// The cases are pinned against a JavaScript engine's answers in TestNonEmptyPatternTranslation.
const (
	ecmaNonEmpty = `^(?!\s*$).+`
	re2NonEmpty  = `^(?:` + ecmaNotSpace + `|[^\n\r\x{2028}\x{2029}](?s:.*)` + ecmaNotSpace + `)`
	ecmaNotSpace = `[^\t\n\v\f\r\x{2028}\x{2029}\x{feff}\p{Zs}]`
)

// re2Pattern returns the RE2 equivalent of an ECMA-only pattern we know about.
func re2Pattern(p string) (string, bool) {
	switch p {
	case ecmaNonEmpty:
		return re2NonEmpty, true
	}
	return "", false
}

// patternMessage words a failed pattern better than "does not match pattern …".
func patternMessage(p string) (string, bool) {
	switch p {
	case ecmaNonEmpty:
		// Also fails for a string starting with a line break; rare enough to keep it short.
		return "must be a non-empty string (not blank)", true
	}
	return "", false
}

// translatePatterns returns a copy of the schema document with known ECMA-only patterns
// replaced by their RE2 equivalent. Any other pattern RE2 cannot compile is an error here,
// rather than a panic inside the compiler.
func translatePatterns(doc any) (any, error) {
	switch d := doc.(type) {
	case map[string]any:
		out := make(map[string]any, len(d))
		for k, v := range d {
			switch k {
			case "enum", "const", "default", "examples":
				out[k] = v // instance values, not schemas
				continue
			case "pattern":
				if p, ok := v.(string); ok {
					if re2, ok := re2Pattern(p); ok {
						p = re2
					}
					if _, err := regexp.Compile(p); err != nil {
						return nil, fmt.Errorf("pattern %q is not supported by Go's regexp: %w", p, err)
					}
					out[k] = p
					continue
				}
			case "patternProperties":
				if m, ok := v.(map[string]any); ok {
					for p := range m {
						if _, known := re2Pattern(p); known {
							return nil, fmt.Errorf("patternProperties %q needs an RE2 translation, not supported", p)
						}
						if _, err := regexp.Compile(p); err != nil {
							return nil, fmt.Errorf("patternProperties %q is not supported by Go's regexp: %w", p, err)
						}
					}
				}
			}
			t, err := translatePatterns(v)
			if err != nil {
				return nil, err
			}
			out[k] = t
		}
		return out, nil
	case []any:
		out := make([]any, len(d))
		for i, v := range d {
			t, err := translatePatterns(v)
			if err != nil {
				return nil, err
			}
			out[i] = t
		}
		return out, nil
	}
	return doc, nil
}
