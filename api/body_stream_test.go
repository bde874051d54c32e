package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// streamed runs streamObject on body, streaming member "s", and returns the object and the
// text "s" held (nil when it was not a string).
func streamed(t *testing.T, body []byte, budget int64) (*object, []byte, error) {
	t.Helper()
	var text []byte
	o, err := streamObject(bytes.NewReader(body), budget, "s", func(r io.Reader) error {
		b, err := io.ReadAll(r)
		text = b
		if text == nil {
			text = []byte{}
		}
		return err
	})
	return o, text, err
}

func TestStreamObject(t *testing.T) {
	tests := []struct {
		body    string
		text    string // of "s"
		members map[string]string
		probs   []string // "pointer: message"
	}{
		{body: `{"s":"JVBERi0=","a":1}`, text: "JVBERi0=", members: map[string]string{"a": "1"}},
		{body: " \n{ \"a\" : [1, {\"b\":\"}\"}] ,\t\"s\" : \"x\\/y\\\\z\\\"\\n\" }\r\n", text: "x/y\\z\"\n", members: map[string]string{"a": `[1, {"b":"}"}]`}},
		{body: `{"s":"\u00e9\ud83d\ude00\ud800x"}`, text: "é😀\uFFFDx"},
		{body: `{"s":null,"b":true}`, members: map[string]string{"s": "null", "b": "true"}},
		{body: `{"s":5}`, members: map[string]string{"s": "5"}},
		{body: `{}`, members: map[string]string{}},
		{body: `{"a":1,"a":2}`, members: map[string]string{"a": "1"}, probs: []string{"/a: given more than once"}},
		{body: `{"a":1} x`, members: map[string]string{"a": "1"}, probs: []string{": invalid JSON: unexpected data after the top-level value"}},
		{body: ``, probs: []string{": invalid JSON: empty body"}},
		{body: `[1]`, probs: []string{": must be a JSON object"}},
		{body: `null`, probs: []string{": must be a JSON object"}},
		{body: `{"s":"abc`, probs: []string{": invalid JSON: unexpected end of input"}},
		{body: `{"a":1,}`, probs: []string{": invalid JSON at byte offset 8: want a member after ','"}},
		{body: `{"a" 1}`, probs: []string{": invalid JSON at byte offset 6: want ':' after a member name"}},
		{body: `{"s":"a\qb"}`, probs: []string{": invalid JSON at byte offset 9: invalid escape in a string"}},
		{body: "{\"s\":\"a\nb\"}", probs: []string{": invalid JSON at byte offset 8: control character in a string"}},
		{body: `{"a":tru}`, probs: []string{": invalid JSON at byte offset 8: invalid value of member /a"}},
	}
	for _, tt := range tests {
		o, text, err := streamed(t, []byte(tt.body), 1<<10)
		require.NoError(t, err, tt.body)
		if tt.members != nil {
			got := map[string]string{}
			for k, v := range o.members {
				if k != "s" || string(v) != `""` {
					got[k] = string(v)
				}
			}
			require.Equal(t, tt.members, got, tt.body)
		}
		if tt.text != "" {
			require.Equal(t, tt.text, string(text), tt.body)
		}
		var probs []string
		for _, p := range o.probs {
			probs = append(probs, p.Pointer+": "+p.Message)
		}
		require.Equal(t, tt.probs, probs, tt.body)
	}
}

// TestStreamObjectBudget: the members other than the streamed one are held to the budget,
// however long the streamed one is.
func TestStreamObjectBudget(t *testing.T) {
	long := `{"s":"` + strings.Repeat("A", 1<<20) + `","a":"` + strings.Repeat("b", 100) + `"}`
	_, text, err := streamed(t, []byte(long), 200)
	require.NoError(t, err)
	require.Len(t, text, 1<<20)
	_, _, err = streamed(t, []byte(`{"a":"`+strings.Repeat("b", 300)+`"}`), 200)
	require.ErrorIs(t, err, errMembersTooLarge)
	_, _, err = streamed(t, []byte(`{"`+strings.Repeat("k", 300)+`":1}`), 200)
	require.ErrorIs(t, err, errMembersTooLarge, "a long member name counts too")
}

// FuzzStreamObject checks streamObject against encoding/json on arbitrary bodies: valid JSON
// objects give the same members (and the string of "s", unescaped alike) without a problem;
// anything else gives a problem; nothing panics.
func FuzzStreamObject(f *testing.F) {
	for _, s := range []string{
		`{"s":"JVBERi0=","a":1}`, `{"s":"\u00e9\ud83d\ude00\ud800\udc00x\/"}`, `{"a":{"s":"nested"},"s":null}`,
		`{"a":1,"a":2}`, `{"a":1} {}`, `[]`, `{`, `{"s":"`, `{"s":"a\qb"}`, `{"a":1e999,"b":-0.0e+1}`,
		` {"s" : "x" , "t":[[],{}]} `, "{\"s\":\"\xff\"}", `{"":0,"~/":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		o, text, err := streamed(t, body, 1<<20)
		if err != nil {
			t.Fatalf("read error from a bytes.Reader: %v", err)
		}
		trimmed := bytes.TrimLeft(body, " \t\r\n")
		if !json.Valid(body) || len(trimmed) == 0 || trimmed[0] != '{' {
			if len(o.probs) == 0 {
				t.Fatalf("no problem for %q", body)
			}
			return
		}
		var ref map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(body, &ref))
		dups := len(o.probs) > 0
		for _, p := range o.probs {
			if p.Message != "given more than once" {
				t.Fatalf("problem %+v for the valid object %q", p, body)
			}
		}
		if !dups && len(ref) != len(o.members) {
			t.Fatalf("members %v, want %v", o.members, ref)
		}
		for k, want := range ref {
			got, ok := o.members[k]
			if !ok {
				t.Fatalf("member %q missing from %q", k, body)
			}
			if k == "s" && text != nil {
				var s string
				if err := json.Unmarshal(want, &s); err != nil && !dups {
					t.Fatalf("streamed a member that is not a string: %s", want)
				}
				if !dups && utf8.Valid(body) && s != string(text) {
					t.Fatalf("text %q, want %q", text, s)
				}
				continue
			}
			if !dups && !bytes.Equal(got, want) {
				t.Fatalf("member %q = %s, want %s", k, got, want)
			}
		}
		if errors.Is(err, errMembersTooLarge) {
			t.Fatal("budget exceeded")
		}
	})
}
