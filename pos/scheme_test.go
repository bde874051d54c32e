package pos_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/epcflow/epcflow/pos"
)

func TestSchemes(t *testing.T) {
	body := []byte(`{"packageId":"p1"}`)
	base, err := pos.NewSigner("", "integration-1", "key-1", "secret-1")
	if err != nil {
		t.Fatal(err)
	}
	renamed := pos.DefaultScheme()
	renamed.SignatureHeader, renamed.SigningKeyIDHeader = "X-Pos-Signature", "X-Pos-Key"
	idsHex := pos.Scheme{EnvironmentHeader: "Elli-Environment", SubscriptionIDHeader: "Elli-SubscriptionId",
		SigningKeyIDHeader: "Elli-SigningKeyId", SignatureHeader: "Elli-Signature", Content: pos.SignIDsAndBody, Encoding: pos.EncodeHex}
	schemes := map[string]pos.Scheme{"default": pos.DefaultScheme(), "renamed": renamed, "ids-hex": idsHex}
	for name, sc := range schemes {
		s, err := base.WithScheme(sc)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		h := s.Header(body)
		if h.Get(sc.SignatureHeader) == "" || h.Get(sc.SigningKeyIDHeader) != "key-1" {
			t.Errorf("%s: headers %v", name, h)
		}
		for other, osc := range schemes {
			v, err := s.Verifier().WithScheme(osc)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.Verify(h, body); (err == nil) != (other == name) {
				t.Errorf("signed by %s, verified by %s: %v", name, other, err)
			}
		}
	}
	// ids-and-body, hex: what an implementer of the scheme would compute.
	s, _ := base.WithScheme(idsHex)
	m := hmac.New(sha256.New, []byte("secret-1"))
	m.Write([]byte("prod\nintegration-1\nkey-1\n"))
	m.Write(body)
	if got, want := s.Header(body).Get("Elli-Signature"), hex.EncodeToString(m.Sum(nil)); got != want {
		t.Errorf("ids-and-body hex signature %s, want %s", got, want)
	}
	v := s.Verifier()
	h := s.Header(body)
	h.Set("Elli-Signature", "not hex")
	if err := v.Verify(h, body); !errors.Is(err, pos.ErrBadSignature) || !strings.Contains(err.Error(), "hex") {
		t.Errorf("Verify(not hex) = %v", err)
	}
}

func TestSchemeCheck(t *testing.T) {
	bad := pos.Scheme{EnvironmentHeader: "Elli Environment", SubscriptionIDHeader: "X-A", SigningKeyIDHeader: "x-a",
		SignatureHeader: "", Content: "headers", Encoding: "base32"}
	err := bad.Check()
	for _, want := range []string{"environment header: not a valid header name", "signing key id header: the same header as the subscription id header",
		"signature header: not a valid header name", `signed content "headers"`, `signature encoding "base32"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check = %v; want it to say %q", err, want)
		}
	}
	if err := pos.DefaultScheme().Check(); err != nil {
		t.Errorf("default scheme: %v", err)
	}
}
