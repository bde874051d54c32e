package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAPINeedsAPortalSecret: with the Delivery Room endpoints on, `api` refuses to start
// without a portal secret (or with a weak one), naming the variable, before anything starts.
func TestAPINeedsAPortalSecret(t *testing.T) {
	t.Setenv("EPCFLOW_OPERATOR_TOKEN", "op")
	t.Setenv("POS_SIGNING_SECRET", "pos-secret")
	for _, tt := range []struct{ secret, want string }{
		{"", "--portal-secret (or EPCFLOW_PORTAL_SECRET) is required with the Delivery Room endpoints"},
		{"short", "EPCFLOW_PORTAL_SECRET): portal secret #1: 5 bytes, want at least 32"},
	} {
		t.Setenv("EPCFLOW_PORTAL_SECRET", tt.secret)
		var out, errOut bytes.Buffer
		code := Main(context.Background(), []string{"api"}, &out, &errOut)
		if code != 2 || !strings.Contains(errOut.String(), tt.want) {
			t.Fatalf("secret %q: exit %d, stderr %q; want 2 and %q", tt.secret, code, errOut.String(), tt.want)
		}
	}
}

// TestPortalCommands: `start portal-token` prints a sign-in link for a user, `start
// portal-revoke` revokes what signs them in.
func TestPortalCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "portal.db")
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := Main(context.Background(), append([]string{"start"}, append(args, "--portal-db", db, "--api", "https://portal.example")...), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	code, out, errOut := run("portal-token", "--email", "Ann@Example.com")
	if code != 0 || !strings.Contains(out, "sign in: https://portal.example/portal/signin?token=pt_") || !strings.Contains(out, "ann@example.com") {
		t.Fatalf("portal-token: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = run("portal-revoke", "--email", "ann@example.com")
	if code != 0 || !strings.Contains(out, "0 sessions ended, 0 invitation links and 1 sign-in links revoked") {
		t.Fatalf("portal-revoke: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, _, errOut = run("portal-revoke", "--email", "nobody@example.com")
	if code == 0 || !strings.Contains(errOut, "no portal user with e-mail nobody@example.com") {
		t.Fatalf("portal-revoke of an unknown user: exit %d, stderr %q", code, errOut)
	}
	st, err := os.Stat(db)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("portal.db: %v %v", st.Mode(), err)
	}
}
