package portal

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Prefixes of the portal's random tokens (invitation tokens: see Secret).
const (
	signInPrefix  = "pt_" // a sign-in link of `epcflow start portal-token`
	sessionPrefix = "ps_" // a session: the portal cookie
)

func randomToken(prefix string) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// IssueToken creates a sign-in token for a user, valid for ttl, not tied to any package:
// the user opens what they were invited for. Only its SHA-256 is stored.
func (s *Store) IssueToken(ctx context.Context, userID string, ttl time.Duration) (string, error) {
	tok := randomToken(signInPrefix)
	now := s.now().UTC()
	if _, err := s.db.ExecContext(ctx, s.db.Q(`INSERT INTO portal_tokens (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`),
		hashToken(tok), userID, now, now.Add(ttl)); err != nil {
		return "", fmt.Errorf("portal: issue token: %w", err)
	}
	return tok, nil
}

// SignIn finds the user of a sign-in credential: an invitation token (verified with sec; the
// invitation neither revoked nor expired) or a sign-in token. Anything else, expired or
// revoked gives ErrNotFound.
func (s *Store) SignIn(ctx context.Context, sec *Secret, token string) (User, error) {
	if strings.HasPrefix(token, invitationPrefix) {
		id, ok := sec.invitationID(token)
		if !ok {
			return User{}, ErrNotFound
		}
		var userID string
		var expires time.Time
		var revoked sql.NullTime
		err := s.db.QueryRowContext(ctx, s.db.Q(`SELECT user_id, expires_at, revoked_at FROM portal_invitations WHERE id = ?`), id).Scan(&userID, &expires, &revoked)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && (revoked.Valid || !s.now().Before(expires))) {
			return User{}, ErrNotFound
		}
		if err != nil {
			return User{}, fmt.Errorf("portal: read invitation: %w", err)
		}
		return s.UserByID(ctx, userID)
	}
	if !strings.HasPrefix(token, signInPrefix) {
		return User{}, ErrNotFound
	}
	return s.userByHash(ctx, `SELECT user_id, expires_at FROM portal_tokens WHERE token_hash = ?`, token)
}

// CreateSession starts a session for a user, valid for ttl, and returns its token (the
// cookie's value); only its SHA-256 is stored. Sessions that have ended are cleared out.
func (s *Store) CreateSession(ctx context.Context, userID string, ttl time.Duration) (string, time.Time, error) {
	tok := randomToken(sessionPrefix)
	now := s.now().UTC()
	expires := now.Add(ttl)
	if _, err := s.db.ExecContext(ctx, s.db.Q(`DELETE FROM portal_sessions WHERE expires_at <= ?`), now); err != nil {
		return "", time.Time{}, fmt.Errorf("portal: clear ended sessions: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, s.db.Q(`INSERT INTO portal_sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`),
		hashToken(tok), userID, now, expires); err != nil {
		return "", time.Time{}, fmt.Errorf("portal: create session: %w", err)
	}
	return tok, expires, nil
}

// UserBySession finds the user of a live session: ErrNotFound for an unknown, ended or revoked
// one.
func (s *Store) UserBySession(ctx context.Context, token string) (User, error) {
	if !strings.HasPrefix(token, sessionPrefix) {
		return User{}, ErrNotFound
	}
	return s.userByHash(ctx, `SELECT user_id, expires_at FROM portal_sessions WHERE token_hash = ?`, token)
}

// EndSession ends one session (signing out); an unknown one is no error.
func (s *Store) EndSession(ctx context.Context, token string) error {
	if _, err := s.db.ExecContext(ctx, s.db.Q(`DELETE FROM portal_sessions WHERE token_hash = ?`), hashToken(token)); err != nil {
		return fmt.Errorf("portal: end session: %w", err)
	}
	return nil
}

func (s *Store) userByHash(ctx context.Context, query, token string) (User, error) {
	var userID string
	var expires time.Time
	err := s.db.QueryRowContext(ctx, s.db.Q(query), hashToken(token)).Scan(&userID, &expires)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !s.now().Before(expires)) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("portal: read token: %w", err)
	}
	return s.UserByID(ctx, userID)
}

// Revoked counts what RevokeUser ended.
type Revoked struct {
	Sessions    int64 `json:"sessions"`
	Invitations int64 `json:"invitations"`
	SignInLinks int64 `json:"signInLinks"`
}

// RevokeUser ends every session of the user with this e-mail and revokes the links that
// sign them in: their invitations' (which still say what they may open: a new sign-in link
// from IssueToken lets them in again) and their sign-in tokens. ErrNotFound for an unknown
// e-mail.
func (s *Store) RevokeUser(ctx context.Context, email string) (User, Revoked, error) {
	u, err := s.UserByEmail(ctx, email)
	if err != nil {
		return User{}, Revoked{}, err
	}
	var r Revoked
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		count := func(n *int64, query string, args ...any) error {
			res, err := tx.ExecContext(ctx, s.db.Q(query), args...)
			if err == nil {
				*n, err = res.RowsAffected()
			}
			return err
		}
		if err := count(&r.Sessions, `DELETE FROM portal_sessions WHERE user_id = ?`, u.ID); err != nil {
			return err
		}
		if err := count(&r.SignInLinks, `DELETE FROM portal_tokens WHERE user_id = ?`, u.ID); err != nil {
			return err
		}
		return count(&r.Invitations, `UPDATE portal_invitations SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL`, s.now().UTC(), u.ID)
	})
	if err != nil {
		return User{}, Revoked{}, fmt.Errorf("portal: revoke: %w", err)
	}
	return u, r, nil
}
