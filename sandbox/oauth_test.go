package sandbox

import (
	"context"
	"strings"
	"testing"

	"github.com/epcflow/epcflow/epc"
	"github.com/epcflow/epcflow/sandbox/internal/sbtest"
)

// TestWorkerAuthStyles: the worker's EPC client in each auth style against the sandbox's token
// endpoint. The default sandbox takes only what ICE's samples send (the client's default,
// form); a worker set to --epc-auth-style basic gets an error that says what to change, and
// works once the sandbox is widened with --oauth-accept-basic.
func TestWorkerAuthStyles(t *testing.T) {
	for _, tc := range []struct {
		name        string
		style       epc.AuthStyle
		acceptBasic bool
		wantErr     []string // fragments of the error; nil: the call succeeds
	}{
		{"form against the default sandbox", epc.AuthForm, false, nil},
		{"basic against the default sandbox", epc.AuthBasic, false, []string{"401", "HTTP Basic client authentication is not accepted", "--epc-auth-style form", "--oauth-accept-basic"}},
		{"basic against a widened sandbox", epc.AuthBasic, true, nil},
		{"form against a widened sandbox", epc.AuthForm, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.OAuthAcceptBasic = tc.acceptBasic })
			id := e.Order(nil)
			client, err := epc.NewClient(epc.Config{BaseURL: e.URL, ClientID: sbtest.ClientID, ClientSecret: sbtest.ClientSecret, AuthStyle: tc.style})
			if err != nil {
				t.Fatal(err)
			}
			tx, err := client.GetTransaction(context.Background(), id)
			if tc.wantErr == nil {
				if err != nil || tx.ID != id {
					t.Fatalf("GetTransaction = %v, %v; want the order", tx, err)
				}
				return
			}
			if err == nil {
				t.Fatal("GetTransaction succeeded; want the token refused")
			}
			t.Logf("error: %v", err)
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if strings.Contains(err.Error(), sbtest.ClientSecret) {
				t.Errorf("error echoes the secret: %v", err)
			}
		})
	}
}
