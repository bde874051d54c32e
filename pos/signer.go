// Package pos holds the clients of the consumer-facing session APIs epcflow drives: ICE's
// Point-of-Sale Framework (Create Package Event, Create a Session into the Delivery Room) and
// Inbank's e-POS, with the request signing they use.
package pos

import (
	"crypto/hmac"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// Headers of the POS Framework's signed requests, both directions (seed 000 and public code
// [sample]).
const (
	HeaderEnvironment    = "Elli-Environment"
	HeaderSubscriptionID = "Elli-SubscriptionId"
	HeaderSigningKeyID   = "Elli-SigningKeyId"
	HeaderSignature      = "Elli-Signature"
)

// DefaultEnvironment is the Elli-Environment value of every partner, test ones included
// (seed 000: "The Elli-Environment is prod").
const DefaultEnvironment = "prod"

// Verification failures; every error Verify returns is a *SignatureError wrapping one of them.
var (
	ErrMissingHeader     = errors.New("header missing")
	ErrWrongEnvironment  = errors.New("wrong environment")
	ErrWrongSubscription = errors.New("unknown subscription id")
	ErrUnknownSigningKey = errors.New("unknown signing key id")
	ErrBadSignature      = errors.New("signature does not match the body")
)

// SignatureError says which header failed verification and why (Err is one of the
// sentinels above). It never carries a signature or a secret; received ids are quoted, cut
// short.
type SignatureError struct {
	Header string
	Err    error
	Detail string // optional, e.g. the expected environment
}

func (e *SignatureError) Error() string {
	s := "pos: " + e.Header + ": " + e.Err.Error()
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}

func (e *SignatureError) Unwrap() error { return e.Err }

// Signer signs POS Framework requests. The scheme is ours (the platform's is not public:
// Scheme, configurable) and by default:
//
//	Elli-Environment:    the environment, "prod" by default
//	Elli-SubscriptionId: the partner's integration id (opaque)
//	Elli-SigningKeyId:   the id of the shared signing key (opaque)
//	Elli-Signature:      base64(HMAC-SHA256(secret of that key, raw body))
//
// The same scheme signs the Create a Session calls we make and the Create Package Events the
// platform sends us. A Signer is immutable and safe for concurrent use.
type Signer struct {
	env, subscriptionID, keyID string
	secret                     []byte
	scheme                     Scheme
}

// NewSigner returns a Signer; env "" means DefaultEnvironment. The ids and the secret are
// required. Errors name the missing argument, never its value.
func NewSigner(env, subscriptionID, keyID, secret string) (*Signer, error) {
	if env == "" {
		env = DefaultEnvironment
	}
	var missing []string
	if strings.TrimSpace(subscriptionID) == "" {
		missing = append(missing, "subscription id")
	}
	if strings.TrimSpace(keyID) == "" {
		missing = append(missing, "signing key id")
	}
	if secret == "" {
		missing = append(missing, "signing secret")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("pos: NewSigner: %s required", strings.Join(missing, ", "))
	}
	return &Signer{env: env, subscriptionID: subscriptionID, keyID: keyID, secret: []byte(secret), scheme: DefaultScheme()}, nil
}

// WithScheme returns a copy of s that signs by sc.
func (s *Signer) WithScheme(sc Scheme) (*Signer, error) {
	if err := sc.Check(); err != nil {
		return nil, err
	}
	c := *s
	c.scheme = sc
	return &c, nil
}

// Scheme returns how s signs.
func (s *Signer) Scheme() Scheme { return s.scheme }

// Environment, SubscriptionID and KeyID return what the Signer puts in the headers.
func (s *Signer) Environment() string    { return s.env }
func (s *Signer) SubscriptionID() string { return s.subscriptionID }
func (s *Signer) KeyID() string          { return s.keyID }

// Sign sets the four signature headers of req for body, the exact bytes req will send.
func (s *Signer) Sign(req *http.Request, body []byte) {
	for k, v := range s.Header(body) {
		req.Header[k] = v
	}
}

// Header returns the four signature headers for body (for senders that build their own
// requests).
func (s *Signer) Header(body []byte) http.Header {
	sc := s.scheme
	h := http.Header{}
	h.Set(sc.EnvironmentHeader, s.env)
	h.Set(sc.SubscriptionIDHeader, s.subscriptionID)
	h.Set(sc.SigningKeyIDHeader, s.keyID)
	h.Set(sc.SignatureHeader, sc.encode(sc.mac(s.secret, s.env, s.subscriptionID, s.keyID, body)))
	return h
}

// Verifier returns a Verifier that accepts what s signs (and only that key).
func (s *Signer) Verifier() *Verifier {
	return &Verifier{env: s.env, subscriptionID: s.subscriptionID, keys: map[string][]byte{s.keyID: s.secret}, scheme: s.scheme}
}

// String and LogValue keep the secret out of fmt and slog output.
func (s *Signer) String() string {
	return fmt.Sprintf("pos.Signer{env:%s subscription:%s key:%s}", s.env, s.subscriptionID, s.keyID)
}

// GoString keeps %#v from printing the secret.
func (s *Signer) GoString() string { return s.String() }

func (s *Signer) LogValue() slog.Value {
	return slog.GroupValue(slog.String("env", s.env), slog.String("subscription", s.subscriptionID),
		slog.String("key", s.keyID))
}

// Verifier checks the signature headers of a received request. It knows several signing
// key ids, each with its secret, so keys can be rotated: a request signed with any known key
// is accepted. It is immutable and safe for concurrent use.
type Verifier struct {
	env, subscriptionID string
	keys                map[string][]byte
	scheme              Scheme
}

// NewVerifier returns a Verifier expecting env ("" means DefaultEnvironment) and
// subscriptionID, and accepting the signing keys given as key id → secret (at least one;
// no empty id or secret).
func NewVerifier(env, subscriptionID string, keys map[string]string) (*Verifier, error) {
	if env == "" {
		env = DefaultEnvironment
	}
	if strings.TrimSpace(subscriptionID) == "" {
		return nil, errors.New("pos: NewVerifier: subscription id required")
	}
	if len(keys) == 0 {
		return nil, errors.New("pos: NewVerifier: at least one signing key required")
	}
	v := &Verifier{env: env, subscriptionID: subscriptionID, keys: make(map[string][]byte, len(keys)), scheme: DefaultScheme()}
	for id, secret := range keys {
		if strings.TrimSpace(id) == "" || secret == "" {
			// An empty secret is a key anybody can sign with.
			return nil, errors.New("pos: NewVerifier: every signing key needs a non-empty id and secret")
		}
		v.keys[id] = []byte(secret)
	}
	return v, nil
}

// WithScheme returns a copy of v that verifies by sc.
func (v *Verifier) WithScheme(sc Scheme) (*Verifier, error) {
	if err := sc.Check(); err != nil {
		return nil, err
	}
	c := *v
	c.scheme = sc
	return &c, nil
}

// KeyIDs lists the accepted signing key ids, sorted.
func (v *Verifier) KeyIDs() []string {
	ids := make([]string, 0, len(v.keys))
	for id := range v.keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Verify checks every signature header of a request against body, the raw bytes received:
// each header present, the environment and subscription id expected, the signing key id
// known, the signature that key's over body (compared in constant time). The first failure
// is returned as a *SignatureError; errors.Is matches its sentinel.
func (v *Verifier) Verify(h http.Header, body []byte) error {
	sc := v.scheme
	get := func(name string) (string, error) {
		val := strings.TrimSpace(h.Get(name))
		if val == "" {
			return "", &SignatureError{Header: name, Err: ErrMissingHeader}
		}
		return val, nil
	}
	env, err := get(sc.EnvironmentHeader)
	if err != nil {
		return err
	}
	if env != v.env {
		return &SignatureError{Header: sc.EnvironmentHeader, Err: ErrWrongEnvironment,
			Detail: "got " + quoteReceived(env) + ", want " + strconv.Quote(v.env)}
	}
	sub, err := get(sc.SubscriptionIDHeader)
	if err != nil {
		return err
	}
	if sub != v.subscriptionID {
		return &SignatureError{Header: sc.SubscriptionIDHeader, Err: ErrWrongSubscription, Detail: "got " + quoteReceived(sub)}
	}
	keyID, err := get(sc.SigningKeyIDHeader)
	if err != nil {
		return err
	}
	secret, ok := v.keys[keyID]
	if !ok {
		return &SignatureError{Header: sc.SigningKeyIDHeader, Err: ErrUnknownSigningKey, Detail: "got " + quoteReceived(keyID)}
	}
	sig, err := get(sc.SignatureHeader)
	if err != nil {
		return err
	}
	got, ok := sc.decode(sig)
	if !ok {
		return &SignatureError{Header: sc.SignatureHeader, Err: ErrBadSignature, Detail: "not a " + string(sc.Encoding) + " HMAC-SHA256"}
	}
	if !hmac.Equal(got, sc.mac(secret, env, sub, keyID, body)) {
		return &SignatureError{Header: sc.SignatureHeader, Err: ErrBadSignature}
	}
	return nil
}

// String and LogValue keep the secrets out of fmt and slog output.
func (v *Verifier) String() string {
	return fmt.Sprintf("pos.Verifier{env:%s subscription:%s keys:%v}", v.env, v.subscriptionID, v.KeyIDs())
}

// GoString keeps %#v from printing the secrets.
func (v *Verifier) GoString() string { return v.String() }

func (v *Verifier) LogValue() slog.Value {
	return slog.GroupValue(slog.String("env", v.env), slog.String("subscription", v.subscriptionID),
		slog.Any("keys", v.KeyIDs()))
}

// quoteReceived quotes a received value for an error message, bounded in length.
func quoteReceived(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strconv.Quote(s)
}
