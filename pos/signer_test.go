package pos_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/epcflow/epcflow/pos"
)

// Vectors computed outside Go:
//
//	printf '%s' "$body" | openssl dgst -sha256 -hmac "$secret" -binary | base64
var vectors = []struct {
	secret, body, want string
}{
	{"sandbox-pos-secret", `{"instanceId":"inst-1","groupNamespace":"loans","groupId":"g-1","packageId":"p-1","recipientId":"r-1","userId":"u-1"}`,
		"L+2dHa6Vj9ixn8gflsWC5SkT7+J4iZpkqRbGDE7DNzU="},
	{"sandbox-pos-secret", "", "vuoJmtRKUQRZXsTKKkhl8x7M+Mz6U4pV3HagkYOnORo="},
	{"key", "The quick brown fox jumps over the lazy dog", "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg="},
}

func mustSigner(t testing.TB, env, sub, keyID, secret string) *pos.Signer {
	t.Helper()
	s, err := pos.NewSigner(env, sub, keyID, secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSignVectors(t *testing.T) {
	for _, v := range vectors {
		s := mustSigner(t, "", "integration-1", "key-1", v.secret)
		req := httptest.NewRequest(http.MethodPost, "/pos/v1/sessions", strings.NewReader(v.body))
		s.Sign(req, []byte(v.body))
		want := map[string]string{
			"Elli-Environment":    "prod",
			"Elli-SubscriptionId": "integration-1",
			"Elli-SigningKeyId":   "key-1",
			"Elli-Signature":      v.want,
		}
		for k, w := range want {
			if got := req.Header.Get(k); got != w {
				t.Errorf("%s = %q, want %q", k, got, w)
			}
		}
		if err := s.Verifier().Verify(req.Header, []byte(v.body)); err != nil {
			t.Errorf("own signature refused: %v", err)
		}
	}
}

func TestNewSignerRequiresEverything(t *testing.T) {
	for _, tc := range []struct {
		sub, key, secret, want string
	}{
		{"", "k", "s", "subscription id required"},
		{"i", " ", "s", "signing key id required"},
		{"i", "k", "", "signing secret required"},
		{"", "", "", "subscription id, signing key id, signing secret required"},
	} {
		_, err := pos.NewSigner("", tc.sub, tc.key, tc.secret)
		if err == nil || !strings.HasSuffix(err.Error(), tc.want) {
			t.Errorf("NewSigner(%q, %q, …) = %v, want …%s", tc.sub, tc.key, err, tc.want)
		}
	}
	if _, err := pos.NewVerifier("", "i", map[string]string{"k": ""}); err == nil {
		t.Error("NewVerifier accepted an empty secret")
	}
	if _, err := pos.NewVerifier("", "i", nil); err == nil {
		t.Error("NewVerifier accepted no key")
	}
	if _, err := pos.NewVerifier("", "", map[string]string{"k": "s"}); err == nil {
		t.Error("NewVerifier accepted no subscription id")
	}
}

func TestVerify(t *testing.T) {
	body := []byte(vectors[0].body)
	v, err := pos.NewVerifier("prod", "integration-1", map[string]string{
		"old-key": "old-secret",
		"new-key": "new-secret",
	})
	if err != nil {
		t.Fatal(err)
	}
	signed := func(keyID, secret string) http.Header {
		return mustSigner(t, "prod", "integration-1", keyID, secret).Header(body)
	}
	with := func(h http.Header, k, val string) http.Header {
		h = h.Clone()
		if val == "" {
			h.Del(k)
		} else {
			h.Set(k, val)
		}
		return h
	}
	good := signed("new-key", "new-secret")
	for _, tc := range []struct {
		name   string
		h      http.Header
		body   []byte
		want   error
		header string
	}{
		{"current key", good, body, nil, ""},
		{"previous key during rotation", signed("old-key", "old-secret"), body, nil, ""},
		{"no environment", with(good, "Elli-Environment", ""), body, pos.ErrMissingHeader, "Elli-Environment"},
		{"test environment", with(good, "Elli-Environment", "stage"), body, pos.ErrWrongEnvironment, "Elli-Environment"},
		{"no subscription", with(good, "Elli-SubscriptionId", ""), body, pos.ErrMissingHeader, "Elli-SubscriptionId"},
		{"other subscription", with(good, "Elli-SubscriptionId", "integration-2"), body, pos.ErrWrongSubscription, "Elli-SubscriptionId"},
		{"no key id", with(good, "Elli-SigningKeyId", ""), body, pos.ErrMissingHeader, "Elli-SigningKeyId"},
		{"unknown key id", signed("retired-key", "new-secret"), body, pos.ErrUnknownSigningKey, "Elli-SigningKeyId"},
		{"key id of another secret", signed("old-key", "new-secret"), body, pos.ErrBadSignature, "Elli-Signature"},
		{"no signature", with(good, "Elli-Signature", ""), body, pos.ErrMissingHeader, "Elli-Signature"},
		{"not base64", with(good, "Elli-Signature", "%%%"), body, pos.ErrBadSignature, "Elli-Signature"},
		{"hex instead of base64", with(good, "Elli-Signature", "2fed9d1dae958fd8b19fc81f96c582e52913efe278899a64a916c60c4ec33735"), body, pos.ErrBadSignature, "Elli-Signature"},
		{"another body", good, []byte(vectors[1].body), pos.ErrBadSignature, "Elli-Signature"},
		{"body with a trailing newline", good, append(append([]byte{}, body...), '\n'), pos.ErrBadSignature, "Elli-Signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := v.Verify(tc.h, tc.body)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
			var se *pos.SignatureError
			if !errors.As(err, &se) || se.Header != tc.header {
				t.Fatalf("Verify = %#v, want a *SignatureError for %s", err, tc.header)
			}
			if !strings.Contains(err.Error(), tc.header) {
				t.Errorf("error %q does not name %s", err, tc.header)
			}
			for _, secret := range []string{"new-secret", "old-secret", good.Get("Elli-Signature")} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q leaks a secret or signature", err)
				}
			}
		})
	}
}

func TestSecretsStayOutOfOutput(t *testing.T) {
	s := mustSigner(t, "", "integration-1", "key-1", "very-secret-value")
	v := s.Verifier()
	var b strings.Builder
	log := slog.New(slog.NewTextHandler(&b, nil))
	log.Info("configured", "signer", s, "verifier", v)
	out := b.String() + fmt.Sprintf("%v %+v %#v %s %v %+v %#v", s, s, s, s, v, v, v)
	if strings.Contains(out, "very-secret-value") {
		t.Fatalf("secret in output: %s", out)
	}
	if !strings.Contains(out, "key-1") || !strings.Contains(out, "integration-1") {
		t.Errorf("ids missing from output: %s", out)
	}
	if got := v.KeyIDs(); len(got) != 1 || got[0] != "key-1" {
		t.Errorf("KeyIDs = %v", got)
	}
}
