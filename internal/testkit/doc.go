package testkit

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/epcflow/epcflow/schemas"
)

// The tests that turn a valid body into invalid ones edit it as a decoded JSON document
// (objects map[string]any, arrays []any), addressed by JSON pointers as schemas.ValueAt
// reads them.

// Set sets the member (of an object) or element (of an array) at ptr to v.
func Set(doc any, ptr string, v any) {
	switch p, tok := parent(doc, ptr); c := p.(type) {
	case map[string]any:
		c[tok] = v
	case []any:
		i, _ := strconv.Atoi(tok)
		c[i] = v
	default:
		panic("testkit.Set: no object or array holds " + ptr)
	}
}

// Delete removes the member at ptr from its object.
func Delete(doc any, ptr string) {
	p, tok := parent(doc, ptr)
	m, ok := p.(map[string]any)
	if !ok {
		panic("testkit.Delete: no object holds " + ptr)
	}
	delete(m, tok)
}

// parent is the value holding ptr's last token, and that token.
func parent(doc any, ptr string) (any, string) {
	i := strings.LastIndex(ptr, "/")
	return schemas.ValueAt(doc, ptr[:max(i, 0)]), ptr[i+1:]
}

// Encode is v as JSON.
func Encode(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
