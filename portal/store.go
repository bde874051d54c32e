// Package portal keeps the partner portal's users, the invitations the Create Package Events
// made (which portal user may open which Delivery Room recipient), their sign-in tokens and
// sessions, the recipients bound to them and the answers given to the events, in a real
// database: SQLite by default (files 0600), PostgreSQL when a DSN is configured. Migrations
// run at Open. No usable token is stored: invitation links are derived (Secret), sign-in
// tokens and sessions are kept as SHA-256 hashes.
package portal

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/epcflow/epcflow/internal/sqldb"
)

// Errors callers branch on.
var (
	ErrNotFound     = errors.New("not found")
	ErrBoundToOther = errors.New("recipient is bound to another portal user")
	// ErrAmbiguous: a packageId known under more than one instance or loan.
	ErrAmbiguous = errors.New("package id is ambiguous")
)

// User is a portal user.
type User struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	FirstName string    `json:"firstName,omitempty"`
	LastName  string    `json:"lastName,omitempty"`
	Created   time.Time `json:"created"`
}

// Store is the portal database.
type Store struct {
	db  *sqldb.DB
	now func() time.Time
}

// Open opens the store: dsn "postgres://…" (or "postgresql://…") uses PostgreSQL; anything
// else is a SQLite file path (its directory is created, the files readable by their owner
// only), ":memory:" an in-memory database.
func Open(ctx context.Context, dsn string) (*Store, error) {
	s, err := open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx, len(migrations)); err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
}

// open connects without migrating.
func open(ctx context.Context, dsn string) (*Store, error) {
	db, err := sqldb.Open(ctx, dsn, "portal")
	if err != nil {
		return nil, fmt.Errorf("portal: %w", err)
	}
	return &Store{db: db, now: time.Now}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// NormalizeEmail is the form e-mails are matched in.
func NormalizeEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

// ResolveUser returns the portal user with this e-mail, creating one if there is none.
// Concurrent calls for one e-mail return the same user.
func (s *Store) ResolveUser(ctx context.Context, email, firstName, lastName string) (User, bool, error) {
	email = NormalizeEmail(email)
	if email == "" || !strings.Contains(email, "@") {
		return User{}, false, fmt.Errorf("portal: %q is not an e-mail address", email)
	}
	u := User{ID: "pu_" + randomID(12), Email: email, FirstName: firstName, LastName: lastName, Created: s.now().UTC().Truncate(time.Millisecond)}
	res, err := s.db.ExecContext(ctx, s.db.Q(`INSERT INTO portal_users (id, email, first_name, last_name, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (email) DO NOTHING`),
		u.ID, u.Email, u.FirstName, u.LastName, u.Created)
	if err != nil {
		return User{}, false, fmt.Errorf("portal: create user: %w", err)
	}
	created := false
	if n, _ := res.RowsAffected(); n == 1 {
		created = true
	}
	got, err := s.UserByEmail(ctx, email)
	return got, created, err
}

// UserByEmail finds a user.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	return s.user(ctx, `SELECT id, email, first_name, last_name, created_at FROM portal_users WHERE email = ?`, NormalizeEmail(email))
}

// UserByID finds a user.
func (s *Store) UserByID(ctx context.Context, id string) (User, error) {
	return s.user(ctx, `SELECT id, email, first_name, last_name, created_at FROM portal_users WHERE id = ?`, id)
}

func (s *Store) user(ctx context.Context, query string, arg any) (User, error) {
	var u User
	err := s.db.QueryRowContext(ctx, s.db.Q(query), arg).Scan(&u.ID, &u.Email, &u.FirstName, &u.LastName, &u.Created)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("portal: read user: %w", err)
	}
	return u, nil
}

func hashToken(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}

func randomID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}
