package schemas_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/epcflow/epcflow/internal/testkit"
	"github.com/epcflow/epcflow/schemas"
)

var byteOffset = regexp.MustCompile(`^invalid JSON at byte offset (\d+): `)

// FuzzValidate runs every embedded schema on arbitrary bytes. Validate never panics; it
// accepts only JSON; anything else is a *ValidationError: for a body that is not JSON, one
// problem at the root saying at which byte the JSON breaks; for a JSON document, problems
// whose pointers lead to a value of the document.
func FuzzValidate(f *testing.F) {
	names, err := filepath.Glob("*.json") // every embedded schema (TestEmbeddedSchemasCompile)
	if err != nil || len(names) == 0 {
		f.Fatalf("schemas: %v %v", names, err)
	}
	sample := testkit.Fixture(f, seed003Patch)
	var patch struct {
		Result struct {
			Details json.RawMessage `json:"details"`
		} `json:"result"`
	}
	if err := json.Unmarshal(sample, &patch); err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		string(sample), string(patch.Result.Details),
		`{"eventId":"e1","eventTime":"2024-07-22T21:20:50Z","eventType":"created","meta":{"resourceType":"urn:elli:epc:transaction","resourceId":"tx-1","instanceId":"i","resourceRef":"https://x/partner/v2/transactions/tx-1"}}`,
		`{"eventTime":"2024-07-22T21:20:50.123+02:00","eventType":"created","meta":{"resourceType":"urn:elli:epc:transaction:event","resourceId":"ev-1"}}`,
		`{"text":"t","type":"urn:elli:epc:partner:x","comments":"c","resources":[{"id":"r1","name":"a.pdf","mimeType":"application/pdf"},{}]}`,
		`{"productCode":"smart_rent","currency":"EUR","locale":"et-EE","purchase":{"description":"d"},"partnerUrls":{"returnUrl":"https://s/r","cancelUrl":"https://s/c"},
		 "rentalApplicationData":{"assets":[{"type":"MODEL_BASED","modelId":"m","modelName":"M","netPrice":699.17},{"modelName":"Case","categoryCode":"add_on","netPrice":20.5}],"period":24}}`,
		`{"a/b":{"~0":[1,{"%2F":null}]},"":""}`, `{"meta":{"resourceId":"\ud800"},"text":"\u0000"}`,
		`{"x":1e400,"y":-0,"z":123456789012345678901234567890}`, "{\"\xff\":\"\xfe\"}",
		`{} {}`, `{"a":1}x`, `[`, `{"a":}`, ``, " \t\r\n", `null`, `[]`, `"s"`, `0`, strings.Repeat("[", 10001),
	} {
		f.Add([]byte(s))
	}

	v := schemas.Default()
	f.Fuzz(func(t *testing.T, doc []byte) {
		dec := json.NewDecoder(bytes.NewReader(doc))
		dec.UseNumber()
		var inst any
		isJSON := json.Valid(doc) && dec.Decode(&inst) == nil
		for _, name := range names {
			err := v.Validate(name, doc)
			if err == nil {
				if !isJSON {
					t.Fatalf("%s accepted a body that is not JSON: %q", name, doc)
				}
				continue
			}
			var ve *schemas.ValidationError
			if !errors.As(err, &ve) || ve.Schema != name || len(ve.Problems) == 0 || err.Error() == "" {
				t.Fatalf("%s: not a validation error with problems: %#v", name, err)
			}
			if !isJSON {
				checkSyntaxProblem(t, name, doc, ve.Problems)
				continue
			}
			for _, p := range ve.Problems {
				if strings.TrimSpace(p.Message) == "" || !resolves(inst, p.Pointer) {
					t.Fatalf("%s: problem %+v does not point at a value of %q", name, p, doc)
				}
			}
		}
	})
}

// checkSyntaxProblem: a body that is not JSON gets one problem, at the root, with the byte
// offset where the JSON breaks (only an empty body has none).
func checkSyntaxProblem(t *testing.T, name string, doc []byte, ps []schemas.Problem) {
	t.Helper()
	if len(ps) != 1 || ps[0].Pointer != "" {
		t.Fatalf("%s: %q is not JSON, but problems are %+v", name, doc, ps)
	}
	msg := ps[0].Message
	if len(bytes.Trim(doc, " \t\r\n")) == 0 {
		if msg != "invalid JSON: empty document" {
			t.Fatalf("%s: empty body: %q", name, msg)
		}
		return
	}
	m := byteOffset.FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("%s: no byte offset in %q for %q", name, msg, doc)
	}
	if off, err := strconv.Atoi(m[1]); err != nil || off > len(doc) {
		t.Fatalf("%s: offset %s beyond the %d bytes of %q", name, m[1], len(doc), doc)
	}
}

// resolves reports whether the JSON pointer ptr (RFC 6901) leads to a value of doc.
func resolves(doc any, ptr string) bool {
	if ptr == "" {
		return true
	}
	if !strings.HasPrefix(ptr, "/") {
		return false
	}
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch d := doc.(type) {
		case map[string]any:
			v, ok := d[tok]
			if !ok {
				return false
			}
			doc = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(d) || strconv.Itoa(i) != tok {
				return false
			}
			doc = d[i]
		default:
			return false
		}
	}
	return true
}
