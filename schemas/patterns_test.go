package schemas

import (
	"regexp"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// The published pattern is ECMA-262; expectations below are what a JavaScript engine
// (node: new RegExp("^(?!\\s*$).+").test(s)) answers for each string.
func TestNonEmptyPatternTranslation(t *testing.T) {
	re := regexp.MustCompile(re2NonEmpty)
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"", false},
		{" ", false},
		{"\t", false},
		{"\t\n", false},
		{"\n", false},
		{"\r", false},
		{"\r\n", false},
		{"\v", false},
		{"\f", false},
		{"\u00a0", false}, // no-break space is ECMA whitespace
		{"\u3000", false},
		{"\ufeff", false},
		{"\u2028x", false}, // starts with a line terminator: `.` cannot match it
		{"\na", false},
		{"a", true},
		{" a ", true},
		{" \t b", true},
		{"a\nb", true},
		{"a\n", true},
		{" \na", true}, // lookahead sees "a" past the newline; `.+` matches the leading space
		{" \rx", true},
		{"x\u2028", true},
		{"x\r", true},
		{"\u0085", true}, // NEL is not ECMA whitespace
		{"\u200b", true}, // zero-width space neither
		{"é", true},
	} {
		if got := re.MatchString(tc.in); got != tc.want {
			t.Errorf("match(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// Documents why the translation exists: the library cannot compile the published file as is.
func TestPublishedSchemaFailsWithoutTranslation(t *testing.T) {
	raw, err := files.ReadFile(ServiceEvents)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("mem://raw/"+ServiceEvents, strings.NewReader(string(raw))); err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Logf("compiler panicked: %v", r)
			}
		}()
		if _, err := c.Compile("mem://raw/" + ServiceEvents); err == nil {
			t.Fatal("the verbatim schema compiled: the pattern translation may no longer be needed")
		} else {
			t.Logf("verbatim compile error: %v", err)
		}
	}()
}

func TestTranslatePatternsRejectsUnsupported(t *testing.T) {
	_, err := translatePatterns(map[string]any{
		"properties": map[string]any{"x": map[string]any{"pattern": `^(?=a)`}},
	})
	if err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Fatalf("err = %v, want an unsupported-pattern error", err)
	}
	// A property named "pattern" and enum values are not patterns.
	_, err = translatePatterns(map[string]any{
		"properties": map[string]any{"pattern": map[string]any{"enum": []any{map[string]any{"pattern": "(?!"}}}},
	})
	if err != nil {
		t.Fatalf("err = %v, want nil", err)
	}
}
