package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReplayExitCodes: the repository's histories replay (directories, comma-separated);
// a history of an unknown workflow type, an unreadable file and a history the code no longer
// replays each get their own exit code and message; -h documents them.
func TestReplayExitCodes(t *testing.T) {
	t.Setenv("EPCFLOW_CODEC_KEYS", "")
	histories := filepath.Join("..", "workflows", "testdata", "histories")
	dir := t.TempDir()
	orig, err := os.ReadFile(filepath.Join(histories, "payment", "expired.json"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, from, to string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Replace(string(orig), from, to, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	unknown := write("unknown.json", `"InbankPaymentSession"`, `"RetiredWorkflow"`)
	recorded, err := filepath.Glob(filepath.Join(histories, "*", "*.json"))
	if err != nil || len(recorded) == 0 {
		t.Fatalf("no recorded histories: %v", err)
	}
	all := fmt.Sprintf("%d histories, %d ok,", len(recorded), len(recorded))
	changed := write("changed.json", `"InbankGetSession"`, `"InbankReadSession"`)

	tests := []struct {
		name     string
		files    string
		wantCode int
		wantOut  string
	}{
		{"every recorded history", filepath.Join(histories, "transaction") + "," + filepath.Join(histories, "delivery") + "," + filepath.Join(histories, "payment"), 0, all},
		{"a directory of directories", histories, 0, all},
		{"non-determinism", changed + "," + unknown, 3, "FAILED (non-deterministic)"},
		{"unknown workflow type", unknown, 4, `FAILED (unknown workflow type): workflow type "RetiredWorkflow" is not registered`},
		{"missing file", filepath.Join(dir, "missing.json") + "," + unknown, 4, "FAILED (unreadable)"},
		{"only a missing file", filepath.Join(dir, "missing.json"), 5, "FAILED (unreadable)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Main(context.Background(), []string{"replay", "--log-level", "error", "--files", tt.files}, &out, &errOut)
			if code != tt.wantCode || !strings.Contains(out.String(), tt.wantOut) {
				t.Fatalf("exit %d, stdout:\n%s\nstderr: %s\nwant exit %d and %q", code, out.String(), errOut.String(), tt.wantCode, tt.wantOut)
			}
		})
	}

	var out, errOut bytes.Buffer
	if code := Main(context.Background(), []string{"replay", "-h"}, &out, &errOut); code != 0 {
		t.Fatalf("-h: exit %d", code)
	}
	for _, want := range []string{"3  a history does not replay", "4  a history's workflow type", "5  a history cannot be read"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("-h does not say %q:\n%s", want, errOut.String())
		}
	}
}
