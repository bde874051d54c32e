package vocab_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/epcflow/epcflow/vocab"
)

func TestDefaults(t *testing.T) {
	v := vocab.Default()
	seen := map[vocab.Key]bool{}
	for _, e := range v.Entries() {
		if seen[e.Key] {
			t.Errorf("%s declared twice", e.Key)
		}
		seen[e.Key] = true
		if e.Value == "" || e.Value != e.Default || e.Used == "" || e.Group == "" {
			t.Errorf("%s: incomplete entry %+v", e.Key, e)
		}
		if e.Standing != vocab.Doc && e.Standing != vocab.Sample && e.Standing != vocab.Ours {
			t.Errorf("%s: standing %q", e.Key, e.Standing)
		}
		if got := v.Get(e.Key); got != e.Value {
			t.Errorf("Get(%s) = %q, want %q", e.Key, got, e.Value)
		}
	}
	// What issue 11 names, with their standing.
	for k, want := range map[vocab.Key]vocab.Standing{
		vocab.ErrorInvalidCredentials: vocab.Doc, vocab.EventAppraisalScheduled: vocab.Doc,
		vocab.ErrorMissingInput: vocab.Ours, vocab.ErrorUnsupportedRequestType: vocab.Ours, vocab.ErrorInputTimeout: vocab.Ours,
		vocab.ErrorProcessingFailed: vocab.Ours, vocab.EventProgress: vocab.Ours, vocab.EventAppraisalReleased: vocab.Ours,
		vocab.EventRequestCanceled: vocab.Ours, vocab.WebhookSignatureHeaderAlt: vocab.Sample, vocab.POSSignedContent: vocab.Ours,
	} {
		for _, e := range v.Entries() {
			if e.Key == k && e.Standing != want {
				t.Errorf("%s is [%s], want [%s]", k, e.Standing, want)
			}
		}
	}
	if err := v.POSScheme().Check(); err != nil {
		t.Errorf("default POS scheme: %v", err)
	}
	if len(v.Changed()) != 0 {
		t.Errorf("the defaults changed nothing, got %v", v.Changed())
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, file string
		want       map[vocab.Key]string // values after parsing; nil: an error
		errHas     []string
	}{
		{"json", `{"error.missingInput": "ACME-2001", "event.requestCanceled": "urn:elli:epc:transaction:request:cancelled"}`,
			map[vocab.Key]string{vocab.ErrorMissingInput: "ACME-2001", vocab.EventRequestCanceled: "urn:elli:epc:transaction:request:cancelled", vocab.ErrorInputTimeout: "PARTNER-2003"}, nil},
		{"yaml", "partnerStatus.failed: Order Failed\npos.signatureEncoding: hex\n",
			map[vocab.Key]string{vocab.StatusFailed: "Order Failed", vocab.POSSignatureEncoding: "hex"}, nil},
		{"a doc name given its own value", `{"error.invalidCredentials": "PARTNER-1001"}`, map[vocab.Key]string{vocab.ErrorInvalidCredentials: "PARTNER-1001"}, nil},
		{"empty object", `{}`, map[vocab.Key]string{vocab.ErrorMissingInput: "PARTNER-2001"}, nil},
		{"unknown key", `{"error.missing": "X"}`, nil, []string{`"error.missing": unknown name`}},
		{"empty value", `{"error.missingInput": " "}`, nil, []string{`"error.missingInput": empty value`}},
		{"padded value", `{"error.missingInput": "X "}`, nil, []string{"leading or trailing spaces"}},
		{"doc name changed", `{"error.invalidCredentials": "X-1"}`, nil, []string{`"error.invalidCredentials": "PARTNER-1001" is fixed by ICE's documentation`}},
		{"not allowed", `{"pos.signedContent": "headers"}`, nil, []string{`"headers" is not one of body, ids-and-body`}},
		{"two alike", `{"error.missingInput": "PARTNER-2002"}`, nil, []string{`"error.missingInput" and "error.unsupportedRequestType": both "PARTNER-2002"`}},
		{"headers alike whatever their case", `{"webhook.signatureHeaderAlt": "elli-signature"}`, nil, []string{"both"}},
		{"number", `{"error.missingInput": 2001}`, nil, []string{`line 1: "error.missingInput": the value must be a string`}},
		{"given twice", "error.missingInput: A\nerror.missingInput: B\n", nil, []string{"given twice"}},
		{"not an object", `["error.missingInput"]`, nil, []string{"want an object"}},
		{"empty file", ``, nil, []string{"the file is empty"}},
		{"every problem at once", `{"a": "1", "error.missingInput": ""}`, nil, []string{`"a": unknown`, `"error.missingInput": empty value`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := vocab.Parse([]byte(tc.file))
			if tc.want == nil {
				for _, s := range tc.errHas {
					if err == nil || !strings.Contains(err.Error(), s) {
						t.Errorf("Parse = %v; want an error saying %s", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range tc.want {
				if got := v.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestLoad(t *testing.T) {
	if v, err := vocab.Load(""); err != nil || v.Get(vocab.ErrorMissingInput) != "PARTNER-2001" {
		t.Fatalf("Load(\"\") = %v, %v", v, err)
	}
	path := filepath.Join(t.TempDir(), "vocab.json")
	if _, err := vocab.Load(path); err == nil || !strings.Contains(err.Error(), "vocabulary file") {
		t.Errorf("missing file: %v", err)
	}
	if err := os.WriteFile(path, []byte(`{"nope": "x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := vocab.Load(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("bad file: %v; want its path and the problem", err)
	}
}

func TestKeyOf(t *testing.T) {
	v, err := vocab.Parse([]byte(`{"partnerStatus.failed": "Order Failed"}`))
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := v.KeyOf(vocab.StatusFailed, "Order Failed"); !ok || k != vocab.StatusFailed {
		t.Errorf("KeyOf = %s, %v", k, ok)
	}
	if k, ok := vocab.Default().KeyOf(vocab.StatusFailed, "Inspection Scheduled"); !ok || k != vocab.StatusInspectionScheduled {
		t.Errorf("KeyOf(another status) = %s, %v", k, ok)
	}
	if _, ok := v.KeyOf(vocab.StatusFailed, "Failed"); ok {
		t.Error("KeyOf found a value the vocabulary no longer has")
	}
}
