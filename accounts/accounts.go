// Package accounts checks the lender user's credentials (request.credentials) against the
// partner's account store. Credentials are compared in constant time and never logged.
package accounts

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
)

// ErrInvalidCredentials means the username/password pair is not a valid partner account.
var ErrInvalidCredentials = errors.New("invalid credentials")

// Store verifies partner-system credentials.
type Store interface {
	// Verify returns nil for a valid account, ErrInvalidCredentials (possibly wrapped) for
	// a wrong pair, and any other error when the store cannot answer now.
	Verify(ctx context.Context, username, password string) error
}

// Static is an in-memory store, used for the demo account and tests.
type Static struct {
	// users maps username to SHA-256(password), so the map never holds a clear password.
	users map[string][32]byte
}

// NewStatic builds a store from username → password.
func NewStatic(users map[string]string) *Static {
	s := &Static{users: make(map[string][32]byte, len(users))}
	for u, p := range users {
		s.users[u] = sha256.Sum256([]byte(p))
	}
	return s
}

// Demo is the built-in demo store: username "demo", password "demo-password-1".
func Demo() *Static { return NewStatic(map[string]string{"demo": "demo-password-1"}) }

// Verify implements Store.
func (s *Static) Verify(_ context.Context, username, password string) error {
	want, ok := s.users[username]
	got := sha256.Sum256([]byte(password))
	// Compare even for unknown users so timing does not reveal which usernames exist.
	if subtle.ConstantTimeCompare(want[:], got[:]) != 1 || !ok || username == "" {
		return ErrInvalidCredentials
	}
	return nil
}
