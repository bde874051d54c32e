package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVocabularyFile: `epcflow vocabulary` prints the effective table; a bad file is refused
// with every problem, by the table command and by the parts before they start anything.
func TestVocabularyFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(good, []byte("error.missingInput: ACME-2001\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(`{"error.missing": "X", "error.invalidCredentials": "ACME-1"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := Main(context.Background(), []string{"vocabulary", "--vocabulary", good}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{"error.missingInput", "ACME-2001 (default PARTNER-2001)", "[ours]", "event.requestCanceled", "pos.signedContent"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	t.Setenv("EPCFLOW_VOCABULARY", bad)
	for _, args := range [][]string{{"vocabulary"}, {"sandbox", "--listen", "127.0.0.1:0"}, {"worker", "--sandbox-secrets"}, {"api", "--sandbox-secrets", "--allow-open-operator-endpoints"}} {
		t.Run(args[0], func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Main(context.Background(), args, &out, &errOut)
			msg := errOut.String()
			if code != 2 || !strings.Contains(msg, `"error.missing": unknown name`) || !strings.Contains(msg, "fixed by ICE's documentation") || !strings.Contains(msg, "EPCFLOW_VOCABULARY") {
				t.Errorf("exit %d, stderr %q; want 2 naming both problems", code, msg)
			}
		})
	}
}
