package portal

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/epcflow/epcflow/internal/secretfile"
)

// MinSecretLength is the shortest portal secret accepted, in bytes.
const MinSecretLength = 32

// invitationPrefix starts every invitation token: "pi_<invitation id>.<MAC>".
const invitationPrefix = "pi_"

// Secret derives the sign-in token of each invitation link: HMAC-SHA256 over the invitation's
// id. The database keeps the id, never the MAC, so nothing stored signs anyone in, and a
// resent package event still answers the very same link. With more than one value the first
// derives new links and every one verifies (rotation: put the new value first; links of the
// old one keep working while it is listed).
type Secret struct{ keys [][]byte }

// NewSecret builds a Secret of one or more values, each at least MinSecretLength bytes.
func NewSecret(values ...string) (*Secret, error) {
	if len(values) == 0 {
		return nil, errors.New("portal secret: empty (make one with: openssl rand -base64 32)")
	}
	s := &Secret{}
	for i, v := range values {
		if len(v) < MinSecretLength {
			return nil, fmt.Errorf("portal secret #%d: %d bytes, want at least %d (make one with: openssl rand -base64 32)", i+1, len(v), MinSecretLength)
		}
		s.keys = append(s.keys, []byte(v))
	}
	return s, nil
}

// ParseSecret reads a comma-separated list of values (the first one derives), as given in
// EPCFLOW_PORTAL_SECRET.
func ParseSecret(list string) (*Secret, error) {
	var values []string
	for _, v := range strings.Split(list, ",") {
		if v = strings.TrimSpace(v); v != "" {
			values = append(values, v)
		}
	}
	return NewSecret(values...)
}

// RandomSecret is a fresh secret that lives in memory only: for stacks whose portal database
// dies with the process (tests, an in-memory dev stack).
func RandomSecret() *Secret {
	s, _ := NewSecret(randomSecretValue())
	return s
}

func randomSecretValue() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.StdEncoding.EncodeToString(b)
}

// String never shows the secret.
func (s *Secret) String() string { return "portal.Secret(redacted)" }

// GoString never shows the secret.
func (s *Secret) GoString() string { return s.String() }

func (s *Secret) mac(key []byte, invitationID string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("epcflow portal invitation v1\x00" + invitationID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// InvitationToken is the sign-in token of the invitation with this id: the same id gives the
// same token for as long as the first value is the same.
func (s *Secret) InvitationToken(invitationID string) string {
	return invitationPrefix + invitationID + "." + s.mac(s.keys[0], invitationID)
}

// invitationID returns the id of a well-formed invitation token whose MAC verifies under any
// value; forged tokens are told apart without a database read.
func (s *Secret) invitationID(token string) (string, bool) {
	rest, ok := strings.CutPrefix(token, invitationPrefix)
	if !ok {
		return "", false
	}
	id, mac, ok := strings.Cut(rest, ".")
	if !ok || !validInvitationID(id) {
		return "", false
	}
	valid := false
	for _, k := range s.keys {
		if hmac.Equal([]byte(mac), []byte(s.mac(k, id))) {
			valid = true
		}
	}
	return id, valid
}

// LoadOrCreateSecretFile reads the portal secret kept at path, or creates the file with a new
// random secret, readable by its owner only (0600): what `epcflow dev` does, as it does for
// its payload key. Production passes the secret through configuration. A file others can read
// is refused.
func LoadOrCreateSecretFile(path string) (*Secret, error) {
	b, err := secretfile.LoadOrCreate(path, "portal secret file", func() (string, error) {
		return "# epcflow portal secret (development): it derives the portal's invitation links.\n" +
			"# Losing or changing it makes the links already sent stop working.\n" + randomSecretValue() + "\n", nil
	})
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	s, err := ParseSecret(strings.Join(lines, ","))
	if err != nil {
		return nil, fmt.Errorf("portal secret file %s: %w", path, err)
	}
	return s, nil
}
