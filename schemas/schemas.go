package schemas

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

//go:embed *.json
var files embed.FS

// baseURL names the embedded schemas for the compiler. It is never fetched: the compiler's
// loader refuses every URL, so a $ref can only reach another embedded file.
const baseURL = "mem://epcflow/schemas/"

// ErrInvalid matches every *ValidationError with errors.Is.
var ErrInvalid = errors.New("schemas: document does not match its schema")

// ErrUnknownSchema is wrapped by Validate when the schema name is not embedded.
var ErrUnknownSchema = errors.New("schemas: unknown schema")

// ValidationError reports every problem found in one document.
type ValidationError struct {
	Schema   string    // schema name, e.g. ResponsePatch
	Problems []Problem // leaf problems, de-duplicated, sorted by pointer
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("schemas: invalid ")
	b.WriteString(e.Schema)
	b.WriteString(" document: ")
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		ptr := p.Pointer
		if ptr == "" {
			ptr = "(root)"
		}
		b.WriteString(ptr)
		b.WriteString(": ")
		b.WriteString(p.Message)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalid) true for any validation failure.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// NewValidationError reports problems found by rules outside a schema (cross-field rules
// its keywords cannot say), usually merged with Validate's: it de-duplicates and sorts them
// as Validate does. It returns nil (an untyped nil error) when there is no problem, and a
// *ValidationError otherwise.
func NewValidationError(schema string, problems []Problem) error {
	if len(problems) == 0 {
		return nil
	}
	seen := make(map[Problem]bool, len(problems))
	uniq := make([]Problem, 0, len(problems))
	for _, p := range problems {
		if !seen[p] {
			seen[p] = true
			uniq = append(uniq, p)
		}
	}
	sortProblems(uniq)
	return &ValidationError{Schema: schema, Problems: uniq}
}

// Problems returns the problems of a *ValidationError in err's chain, or nil.
func Problems(err error) []Problem {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve.Problems
	}
	return nil
}

// Validator holds every embedded schema, compiled. It is immutable and safe for concurrent use.
type Validator struct {
	schemas map[string]*jsonschema.Schema
	// docs are the schema documents as embedded (before any pattern translation), keyed by
	// URL: problems are worded from the keyword that failed (required names, enum values…).
	docs map[string]any
}

// Default returns the process-wide Validator, compiled on first use. It panics only if the
// embedded schemas do not compile, which TestEmbeddedSchemasCompile rules out.
func Default() *Validator { return defaultValidator() }

var defaultValidator = sync.OnceValue(func() *Validator {
	v, err := New()
	if err != nil {
		panic(err)
	}
	return v
})

// New compiles every embedded schema (draft-07 unless a file says otherwise).
func New() (*Validator, error) {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		return nil, fmt.Errorf("schemas: list embedded files: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft7
	c.LoadURL = func(u string) (io.ReadCloser, error) {
		return nil, fmt.Errorf("schemas: %s is not an embedded schema", u)
	}
	v := &Validator{schemas: map[string]*jsonschema.Schema{}, docs: map[string]any{}}
	var names []string
	for _, e := range entries {
		name := e.Name()
		raw, err := files.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("schemas: read %s: %w", name, err)
		}
		doc, err := decodeJSON(raw)
		if err != nil {
			return nil, fmt.Errorf("schemas: %s: %w", name, err)
		}
		compiled, err := translatePatterns(doc)
		if err != nil {
			return nil, fmt.Errorf("schemas: %s: %w", name, err)
		}
		b, err := json.Marshal(compiled)
		if err != nil {
			return nil, fmt.Errorf("schemas: %s: %w", name, err)
		}
		if err := c.AddResource(baseURL+name, bytes.NewReader(b)); err != nil {
			return nil, fmt.Errorf("schemas: add %s: %w", name, err)
		}
		v.docs[baseURL+name] = doc
		names = append(names, name)
	}
	for _, name := range names {
		s, err := c.Compile(baseURL + name)
		if err != nil {
			return nil, fmt.Errorf("schemas: compile %s: %w", name, err)
		}
		v.schemas[name] = s
	}
	return v, nil
}

// Validate checks the JSON document doc against the named schema. It returns a
// *ValidationError listing every problem (malformed JSON included), or a plain error
// wrapping ErrUnknownSchema when no schema has that name.
func (v *Validator) Validate(name string, doc []byte) error {
	s, ok := v.schemas[name]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownSchema, name)
	}
	inst, err := decodeJSON(doc)
	if err != nil {
		return &ValidationError{Schema: name, Problems: []Problem{{Pointer: "", Message: err.Error()}}}
	}
	// The library compares numbers as big.Rat and panics on one that big.Rat cannot hold
	// (0e10000000000000000000): such numbers are refused here, each at its pointer.
	if ps := outOfRangeNumbers(inst, ""); len(ps) > 0 {
		return &ValidationError{Schema: name, Problems: ps}
	}
	err = s.Validate(inst)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("schemas: validate against %s: %w", name, err)
	}
	return &ValidationError{Schema: name, Problems: v.problems(ve, inst)}
}

// ValidateValue validates v as it encodes to JSON; []byte and json.RawMessage are taken
// as JSON documents already.
func (v *Validator) ValidateValue(name string, value any) error {
	switch d := value.(type) {
	case []byte:
		return v.Validate(name, d)
	case json.RawMessage:
		return v.Validate(name, d)
	}
	b, err := json.Marshal(value)
	if err != nil {
		return fmt.Errorf("schemas: encode %T for %s: %w", value, name, err)
	}
	return v.Validate(name, b)
}

// outOfRangeNumbers lists the numbers of a decoded document that big.Rat cannot represent.
func outOfRangeNumbers(v any, ptr string) []Problem {
	switch v := v.(type) {
	case json.Number:
		if _, ok := new(big.Rat).SetString(v.String()); !ok {
			return []Problem{{Pointer: ptr, Message: "number out of range"}}
		}
	case map[string]any:
		var ps []Problem
		for k, e := range v {
			ps = append(ps, outOfRangeNumbers(e, ptr+"/"+strings.NewReplacer("~", "~0", "/", "~1").Replace(k))...)
		}
		sortProblems(ps)
		return ps
	case []any:
		var ps []Problem
		for i, e := range v {
			ps = append(ps, outOfRangeNumbers(e, ptr+"/"+strconv.Itoa(i))...)
		}
		return ps
	}
	return nil
}

// decodeJSON decodes one JSON value, numbers as json.Number so no precision is lost.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		var se *json.SyntaxError
		switch {
		case errors.Is(err, io.EOF):
			return nil, errors.New("invalid JSON: empty document")
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, fmt.Errorf("invalid JSON at byte offset %d: unexpected end of input", len(b))
		case errors.As(err, &se):
			return nil, fmt.Errorf("invalid JSON at byte offset %d: %s", se.Offset, se.Error())
		default:
			return nil, fmt.Errorf("invalid JSON: %w", err)
		}
	}
	off := dec.InputOffset()
	rest := b[off:]
	if trimmed := bytes.TrimLeft(rest, " \t\r\n"); len(trimmed) > 0 {
		return nil, fmt.Errorf("invalid JSON at byte offset %d: unexpected data after the top-level value",
			off+int64(len(rest)-len(trimmed)))
	}
	return doc, nil
}

// sortProblems orders problems by pointer (array indexes numerically), then message.
func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		if c := comparePointers(ps[i].Pointer, ps[j].Pointer); c != 0 {
			return c < 0
		}
		return ps[i].Message < ps[j].Message
	})
}

func comparePointers(a, b string) int {
	if a == b {
		return 0
	}
	at, bt := pointerTokens(a), pointerTokens(b)
	for i := 0; i < len(at) && i < len(bt); i++ {
		x, y := at[i], bt[i]
		if x == y {
			continue
		}
		if isIndex(x) && isIndex(y) {
			if len(x) != len(y) {
				return len(x) - len(y)
			}
		}
		return strings.Compare(x, y)
	}
	return len(at) - len(bt)
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
