package portal

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/epcflow/epcflow/internal/sqldb"
)

// migration is one step of the schema: a statement, or Go code for what SQL cannot do alone.
type migration struct {
	sql string
	run func(ctx context.Context, s *Store, tx *sql.Tx) error
}

// migrations are applied in order, each once; never edit one that has shipped, add another.
var migrations = []migration{
	{sql: `CREATE TABLE portal_users (
		id TEXT PRIMARY KEY,
		email TEXT NOT NULL UNIQUE,
		first_name TEXT NOT NULL DEFAULT '',
		last_name TEXT NOT NULL DEFAULT '',
		created_at TIMESTAMP NOT NULL
	)`},
	// Sign-in tokens given by `epcflow start portal-token` (and, before invitations, by every
	// package event): their SHA-256 only.
	{sql: `CREATE TABLE portal_tokens (
		token_hash TEXT PRIMARY KEY,
		user_id TEXT NOT NULL REFERENCES portal_users(id),
		created_at TIMESTAMP NOT NULL,
		expires_at TIMESTAMP NOT NULL
	)`},
	{sql: `CREATE TABLE recipient_bindings (
		package_key TEXT NOT NULL,
		recipient_id TEXT NOT NULL,
		user_id TEXT NOT NULL REFERENCES portal_users(id),
		bound_at TIMESTAMP NOT NULL,
		PRIMARY KEY (package_key, recipient_id)
	)`},
	{sql: `CREATE TABLE package_answers (
		package_key TEXT PRIMARY KEY,
		answer TEXT NOT NULL,
		created_at TIMESTAMP NOT NULL
	)`},
	// The portal's open URL names a package by packageId only; this maps it back to the key.
	{sql: `CREATE TABLE portal_packages (
		package_key TEXT PRIMARY KEY,
		package_id TEXT NOT NULL,
		instance_id TEXT NOT NULL,
		group_namespace TEXT NOT NULL,
		group_id TEXT NOT NULL,
		recipient_ids TEXT NOT NULL,
		created_at TIMESTAMP NOT NULL
	)`},
	{sql: `CREATE INDEX portal_packages_package_id ON portal_packages (package_id)`},
	// Who may open which recipient, decided when the package event is answered; the link's
	// token is derived from the id (Secret), so no column holds it.
	{sql: `CREATE TABLE portal_invitations (
		id TEXT PRIMARY KEY,
		package_key TEXT NOT NULL,
		recipient_id TEXT NOT NULL,
		user_id TEXT NOT NULL REFERENCES portal_users(id),
		role TEXT NOT NULL DEFAULT '',
		created_at TIMESTAMP NOT NULL,
		expires_at TIMESTAMP NOT NULL,
		revoked_at TIMESTAMP,
		UNIQUE (package_key, recipient_id)
	)`},
	{sql: `CREATE INDEX portal_invitations_user ON portal_invitations (user_id)`},
	{sql: `CREATE TABLE portal_sessions (
		token_hash TEXT PRIMARY KEY,
		user_id TEXT NOT NULL REFERENCES portal_users(id),
		created_at TIMESTAMP NOT NULL,
		expires_at TIMESTAMP NOT NULL
	)`},
	{sql: `CREATE INDEX portal_sessions_user ON portal_sessions (user_id)`},
	{sql: `CREATE INDEX portal_sessions_expires ON portal_sessions (expires_at)`},
	{run: invitationsFromLegacyAnswers},
}

// migrate applies the first n migrations that have not been applied yet.
func (s *Store) migrate(ctx context.Context, n int) error {
	steps := make([]sqldb.Migration, n)
	for i, m := range migrations[:n] {
		steps[i].SQL = m.sql
		if m.run != nil {
			steps[i].Run = func(ctx context.Context, tx *sql.Tx) error { return m.run(ctx, s, tx) }
		}
	}
	if err := s.db.MigrateSteps(ctx, "portal_schema_migrations", steps); err != nil {
		return fmt.Errorf("portal: %w", err)
	}
	return nil
}

// invitationsFromLegacyAnswers takes the clear tokens out of answers stored before
// invitations: each recipient's token (its SHA-256 is in portal_tokens, with its user) becomes
// an invitation for that recipient and user, and the answer keeps the invitation's marker, so
// a resend answers the invitation's derived link. The old link keeps signing in until it
// expires (its hash stays in portal_tokens); a token without its row (never seen) is replaced
// by one that signs nobody in.
func invitationsFromLegacyAnswers(ctx context.Context, s *Store, tx *sql.Tx) error {
	type stored struct{ key, answer string }
	rows, err := tx.QueryContext(ctx, `SELECT package_key, answer FROM package_answers`)
	if err != nil {
		return err
	}
	var all []stored
	for rows.Next() {
		var a stored
		if err := rows.Scan(&a.key, &a.answer); err != nil {
			rows.Close()
			return err
		}
		all = append(all, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, a := range all {
		var doc struct {
			Recipients []struct {
				RecipientID string `json:"recipientId"`
				PortalURL   string `json:"portalUrl"`
			} `json:"recipients"`
		}
		if err := json.Unmarshal([]byte(a.answer), &doc); err != nil {
			return fmt.Errorf("stored answer of %s: %w", a.key, err)
		}
		answer := a.answer
		for _, r := range doc.Recipients {
			u, err := url.Parse(r.PortalURL)
			if err != nil {
				continue
			}
			tok := u.Query().Get("token")
			if !strings.HasPrefix(tok, signInPrefix) {
				continue
			}
			replacement := "revoked"
			id, err := s.legacyInvitation(ctx, tx, a.key, r.RecipientID, tok)
			switch {
			case err == nil:
				replacement = invitationMarker(id)
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
			answer = strings.ReplaceAll(answer, tok, replacement)
		}
		if _, err := tx.ExecContext(ctx, s.db.Q(`UPDATE package_answers SET answer = ? WHERE package_key = ?`), answer, a.key); err != nil {
			return err
		}
	}
	return nil
}

// legacyInvitation makes (or finds) the invitation of a recipient whose answer held tok.
func (s *Store) legacyInvitation(ctx context.Context, tx *sql.Tx, key, recipientID, tok string) (string, error) {
	var inv Invitation
	if err := tx.QueryRowContext(ctx, s.db.Q(`SELECT user_id, created_at, expires_at FROM portal_tokens WHERE token_hash = ?`), hashToken(tok)).
		Scan(&inv.UserID, &inv.Created, &inv.Expires); err != nil {
		return "", err
	}
	if _, err := tx.ExecContext(ctx, s.db.Q(`INSERT INTO portal_invitations (id, package_key, recipient_id, user_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (package_key, recipient_id) DO NOTHING`),
		NewInvitationID(), key, recipientID, inv.UserID, inv.Created, inv.Expires); err != nil {
		return "", err
	}
	var id string
	err := tx.QueryRowContext(ctx, s.db.Q(`SELECT id FROM portal_invitations WHERE package_key = ? AND recipient_id = ?`), key, recipientID).Scan(&id)
	return id, err
}
