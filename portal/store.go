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
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver "pgx"
	_ "modernc.org/sqlite"             // SQLite driver "sqlite"
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
	db      *sql.DB
	dialect dialect
	now     func() time.Time
}

type dialect int

const (
	sqliteDialect dialect = iota
	postgresDialect
)

// Open opens the store: dsn "postgres://…" (or "postgresql://…") uses PostgreSQL; anything
// else is a SQLite file path (its directory is created), ":memory:" an in-memory database.
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
	s := &Store{now: time.Now}
	var err error
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		s.dialect = postgresDialect
		s.db, err = sql.Open("pgx", dsn)
	case dsn == "":
		return nil, errors.New("portal: empty database DSN")
	default:
		s.dialect = sqliteDialect
		path := dsn
		if dsn != ":memory:" {
			if err := ownerOnly(dsn); err != nil {
				return nil, err
			}
		} else {
			// One shared in-memory database per Store, not one per connection.
			path = "file:portal-" + randomID(8) + "?mode=memory&cache=shared"
		}
		s.db, err = sql.Open("sqlite", sqliteDSN(path))
		if err == nil {
			s.db.SetMaxOpenConns(1) // SQLite has one writer: serialise here instead of SQLITE_BUSY
		}
	}
	if err != nil {
		return nil, fmt.Errorf("portal: open: %w", err)
	}
	if err := s.db.PingContext(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("portal: connect: %w", err)
	}
	return s, nil
}

// ownerOnly creates the SQLite file 0600 when there is none (SQLite gives its WAL and shared
// memory files the database file's mode) and takes the access of others away from an existing
// database and its companions: they hold who was invited for which loan.
func ownerOnly(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("portal: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("portal: %w", err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil && st.Mode().Perm() != 0o600 {
			err = os.Chmod(p, 0o600)
		}
		if err != nil {
			return fmt.Errorf("portal: make %s readable by its owner only: %w", p, err)
		}
	}
	return nil
}

func sqliteDSN(path string) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)"
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// q rewrites ? placeholders for PostgreSQL ($1, $2, …).
func (s *Store) q(query string) string {
	if s.dialect != postgresDialect {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (s *Store) tx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

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
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO portal_users (id, email, first_name, last_name, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (email) DO NOTHING`),
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
	err := s.db.QueryRowContext(ctx, s.q(query), arg).Scan(&u.ID, &u.Email, &u.FirstName, &u.LastName, &u.Created)
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
