// Package portal keeps the partner portal's users, their sign-in tokens, the Delivery Room
// recipients bound to them and the answers given to Create Package Events, in a real database:
// SQLite by default, PostgreSQL when a DSN is configured. Migrations run at Open.
package portal

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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
			if err := os.MkdirAll(filepath.Dir(dsn), 0o700); err != nil {
				return nil, fmt.Errorf("portal: %w", err)
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
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
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

// migrations are applied in order, each once; never edit one that has shipped, add another.
var migrations = []string{
	`CREATE TABLE portal_users (
		id TEXT PRIMARY KEY,
		email TEXT NOT NULL UNIQUE,
		first_name TEXT NOT NULL DEFAULT '',
		last_name TEXT NOT NULL DEFAULT '',
		created_at TIMESTAMP NOT NULL
	)`,
	`CREATE TABLE portal_tokens (
		token_hash TEXT PRIMARY KEY,
		user_id TEXT NOT NULL REFERENCES portal_users(id),
		created_at TIMESTAMP NOT NULL,
		expires_at TIMESTAMP NOT NULL
	)`,
	`CREATE TABLE recipient_bindings (
		package_key TEXT NOT NULL,
		recipient_id TEXT NOT NULL,
		user_id TEXT NOT NULL REFERENCES portal_users(id),
		bound_at TIMESTAMP NOT NULL,
		PRIMARY KEY (package_key, recipient_id)
	)`,
	`CREATE TABLE package_answers (
		package_key TEXT PRIMARY KEY,
		answer TEXT NOT NULL,
		created_at TIMESTAMP NOT NULL
	)`,
	// The portal's open URL names a package by packageId only; this maps it back to the key.
	`CREATE TABLE portal_packages (
		package_key TEXT PRIMARY KEY,
		package_id TEXT NOT NULL,
		instance_id TEXT NOT NULL,
		group_namespace TEXT NOT NULL,
		group_id TEXT NOT NULL,
		recipient_ids TEXT NOT NULL,
		created_at TIMESTAMP NOT NULL
	)`,
	`CREATE INDEX portal_packages_package_id ON portal_packages (package_id)`,
}

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS portal_schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMP NOT NULL)`); err != nil {
		return fmt.Errorf("portal: migrations table: %w", err)
	}
	for i, m := range migrations {
		v := i + 1
		err := s.tx(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM portal_schema_migrations WHERE version = ?`), v).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, s.q(`INSERT INTO portal_schema_migrations (version, applied_at) VALUES (?, ?)`), v, s.now().UTC())
			return err
		})
		if err != nil {
			return fmt.Errorf("portal: migration %d: %w", v, err)
		}
	}
	return nil
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

// IssueToken creates a sign-in token for a user, valid for ttl. Only its hash is stored.
func (s *Store) IssueToken(ctx context.Context, userID string, ttl time.Duration) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	tok := "pt_" + base64.RawURLEncoding.EncodeToString(b)
	now := s.now().UTC()
	if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO portal_tokens (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`),
		hashToken(tok), userID, now, now.Add(ttl)); err != nil {
		return "", fmt.Errorf("portal: issue token: %w", err)
	}
	return tok, nil
}

// UserByToken authenticates a token.
func (s *Store) UserByToken(ctx context.Context, token string) (User, error) {
	if !strings.HasPrefix(token, "pt_") {
		return User{}, ErrNotFound
	}
	var userID string
	var expires time.Time
	err := s.db.QueryRowContext(ctx, s.q(`SELECT user_id, expires_at FROM portal_tokens WHERE token_hash = ?`), hashToken(token)).Scan(&userID, &expires)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !s.now().Before(expires)) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("portal: read token: %w", err)
	}
	return s.UserByID(ctx, userID)
}

// Bind binds a package's recipient to a user, permanently: the first user wins, and binding
// the same user again is a no-op. A recipient bound to someone else gives ErrBoundToOther.
// Race-safe: the primary key decides between concurrent binders.
func (s *Store) Bind(ctx context.Context, packageKey, recipientID, userID string) error {
	if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO recipient_bindings (package_key, recipient_id, user_id, bound_at) VALUES (?, ?, ?, ?) ON CONFLICT (package_key, recipient_id) DO NOTHING`),
		packageKey, recipientID, userID, s.now().UTC()); err != nil {
		return fmt.Errorf("portal: bind: %w", err)
	}
	owner, err := s.BoundUser(ctx, packageKey, recipientID)
	if err != nil {
		return err
	}
	if owner != userID {
		return ErrBoundToOther
	}
	return nil
}

// BoundUser returns the user a recipient is bound to, or ErrNotFound.
func (s *Store) BoundUser(ctx context.Context, packageKey, recipientID string) (string, error) {
	var owner string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT user_id FROM recipient_bindings WHERE package_key = ? AND recipient_id = ?`), packageKey, recipientID).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("portal: read binding: %w", err)
	}
	return owner, nil
}

// SaveAnswer stores the answer to a Create Package Event unless one is stored already, and
// returns the stored one: a resent event gets the first answer.
func (s *Store) SaveAnswer(ctx context.Context, packageKey string, answer []byte) ([]byte, bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO package_answers (package_key, answer, created_at) VALUES (?, ?, ?) ON CONFLICT (package_key) DO NOTHING`),
		packageKey, string(answer), s.now().UTC())
	if err != nil {
		return nil, false, fmt.Errorf("portal: save answer: %w", err)
	}
	n, _ := res.RowsAffected()
	stored, err := s.Answer(ctx, packageKey)
	return stored, n == 1, err
}

// Answer returns the stored answer to a package, or ErrNotFound.
func (s *Store) Answer(ctx context.Context, packageKey string) ([]byte, error) {
	var a string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT answer FROM package_answers WHERE package_key = ?`), packageKey).Scan(&a)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("portal: read answer: %w", err)
	}
	return []byte(a), nil
}

// Package is a Delivery Room package as the portal knows it.
type Package struct {
	Key            string   `json:"key"`
	PackageID      string   `json:"packageId"`
	InstanceID     string   `json:"instanceId"`
	GroupNamespace string   `json:"groupNamespace"`
	GroupID        string   `json:"groupId"`
	RecipientIDs   []string `json:"recipientIds"`
}

// HasRecipient reports whether id is a recipient of the package.
func (p Package) HasRecipient(id string) bool {
	for _, r := range p.RecipientIDs {
		if r == id {
			return true
		}
	}
	return false
}

// SavePackage records a package under its key unless the key is known already: the first
// Create Package Event for a key wins, as its answer does (SaveAnswer).
func (s *Store) SavePackage(ctx context.Context, key, packageID, instanceID, groupNamespace, groupID string, recipientIDs []string) error {
	ids, err := json.Marshal(recipientIDs)
	if err != nil {
		return fmt.Errorf("portal: save package: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO portal_packages (package_key, package_id, instance_id, group_namespace, group_id, recipient_ids, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (package_key) DO NOTHING`),
		key, packageID, instanceID, groupNamespace, groupID, string(ids), s.now().UTC()); err != nil {
		return fmt.Errorf("portal: save package: %w", err)
	}
	return nil
}

// PackageByID finds a package by its packageId: ErrNotFound when none, ErrAmbiguous when
// the id is known under more than one key.
func (s *Store) PackageByID(ctx context.Context, packageID string) (Package, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT package_key, package_id, instance_id, group_namespace, group_id, recipient_ids FROM portal_packages WHERE package_id = ? LIMIT 2`), packageID)
	if err != nil {
		return Package{}, fmt.Errorf("portal: read package: %w", err)
	}
	defer rows.Close()
	var found []Package
	for rows.Next() {
		var p Package
		var ids string
		if err := rows.Scan(&p.Key, &p.PackageID, &p.InstanceID, &p.GroupNamespace, &p.GroupID, &ids); err != nil {
			return Package{}, fmt.Errorf("portal: read package: %w", err)
		}
		if err := json.Unmarshal([]byte(ids), &p.RecipientIDs); err != nil {
			return Package{}, fmt.Errorf("portal: read package: recipient ids: %w", err)
		}
		found = append(found, p)
	}
	if err := rows.Err(); err != nil {
		return Package{}, fmt.Errorf("portal: read package: %w", err)
	}
	switch len(found) {
	case 0:
		return Package{}, ErrNotFound
	case 1:
		return found[0], nil
	default:
		return Package{}, ErrAmbiguous
	}
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
