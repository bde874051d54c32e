package pos

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// The POS Framework's request-signing scheme is not public (seed 000 names the headers' roles,
// not what is signed nor how it is written): Scheme makes every part of it configurable, with
// today's reading as the default (DefaultScheme). The sandbox signs and verifies with the same
// Scheme, so both sides change together.

// SignedContent is what a signature covers.
type SignedContent string

// What a signature may cover.
const (
	// SignBody signs the raw body as sent (the default).
	SignBody SignedContent = "body"
	// SignIDsAndBody signs the environment, the subscription id and the signing key id, each
	// followed by a newline, then the raw body.
	SignIDsAndBody SignedContent = "ids-and-body"
)

// SignatureEncoding is how the HMAC-SHA256 is written in the signature header.
type SignatureEncoding string

// Encodings of a signature.
const (
	EncodeBase64 SignatureEncoding = "base64" // standard base64, padded (the default)
	EncodeHex    SignatureEncoding = "hex"    // lower-case hex (upper case accepted)
)

// SignedContents and SignatureEncodings list the valid values, the default first.
func SignedContents() []string     { return []string{string(SignBody), string(SignIDsAndBody)} }
func SignatureEncodings() []string { return []string{string(EncodeBase64), string(EncodeHex)} }

// Scheme is how POS Framework requests are signed: the four headers' names, what is signed and
// how the signature is written.
type Scheme struct {
	EnvironmentHeader, SubscriptionIDHeader, SigningKeyIDHeader, SignatureHeader string
	Content                                                                      SignedContent
	Encoding                                                                     SignatureEncoding
}

// DefaultScheme is today's reading: base64(HMAC-SHA256(secret, raw body)) in Elli-Signature.
func DefaultScheme() Scheme {
	return Scheme{
		EnvironmentHeader: HeaderEnvironment, SubscriptionIDHeader: HeaderSubscriptionID,
		SigningKeyIDHeader: HeaderSigningKeyID, SignatureHeader: HeaderSignature,
		Content: SignBody, Encoding: EncodeBase64,
	}
}

// Check reports every problem of a scheme: a missing or invalid header name, two headers
// alike, an unknown content or encoding.
func (sc Scheme) Check() error {
	var problems []string
	seen := map[string]string{}
	for _, h := range []struct{ role, name string }{
		{"environment header", sc.EnvironmentHeader}, {"subscription id header", sc.SubscriptionIDHeader},
		{"signing key id header", sc.SigningKeyIDHeader}, {"signature header", sc.SignatureHeader},
	} {
		canon := http.CanonicalHeaderKey(h.name)
		switch {
		case !validHeaderName(h.name):
			problems = append(problems, h.role+": not a valid header name")
		case seen[canon] != "":
			problems = append(problems, h.role+": the same header as the "+seen[canon])
		default:
			seen[canon] = h.role
		}
	}
	if sc.Content != SignBody && sc.Content != SignIDsAndBody {
		problems = append(problems, fmt.Sprintf("signed content %q: must be %s", sc.Content, strings.Join(SignedContents(), " or ")))
	}
	if sc.Encoding != EncodeBase64 && sc.Encoding != EncodeHex {
		problems = append(problems, fmt.Sprintf("signature encoding %q: must be %s", sc.Encoding, strings.Join(SignatureEncodings(), " or ")))
	}
	if len(problems) > 0 {
		return errors.New("pos: signing scheme: " + strings.Join(problems, "; "))
	}
	return nil
}

// validHeaderName accepts an HTTP token (RFC 9110 §5.6.2).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// mac is the HMAC-SHA256 the scheme signs for body.
func (sc Scheme) mac(secret []byte, env, subscriptionID, keyID string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	if sc.Content == SignIDsAndBody {
		m.Write([]byte(env + "\n" + subscriptionID + "\n" + keyID + "\n"))
	}
	m.Write(body)
	return m.Sum(nil)
}

func (sc Scheme) encode(sum []byte) string {
	if sc.Encoding == EncodeHex {
		return hex.EncodeToString(sum)
	}
	return base64.StdEncoding.EncodeToString(sum)
}

// decode reads a signature header's value; false when it is not an encoded HMAC-SHA256.
func (sc Scheme) decode(sig string) ([]byte, bool) {
	var got []byte
	var err error
	if sc.Encoding == EncodeHex {
		got, err = hex.DecodeString(sig)
	} else {
		got, err = base64.StdEncoding.Strict().DecodeString(sig)
	}
	return got, err == nil && len(got) == sha256.Size
}
