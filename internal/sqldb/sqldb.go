// Package sqldb opens epcflow's own small databases (the portal's, the webhook dedup store's)
// one way: a postgres:// (or postgresql://) DSN is PostgreSQL, anything else a SQLite file
// (its directory created 0700, the files 0600), ":memory:" a private in-memory SQLite
// database. It also numbers migrations per owner, so several stores can share one database,
// each with its own tables.
package sqldb

import (
	"context"
	"crypto/rand"
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

// Dialect is the SQL flavour of a database.
type Dialect int

const (
	SQLite Dialect = iota
	Postgres
)

// DB is an open database and its dialect.
type DB struct {
	*sql.DB
	Dialect Dialect
}

// IsPostgres reports whether dsn names a PostgreSQL database.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Open opens and pings the database dsn names. name labels an in-memory database.
func Open(ctx context.Context, dsn, name string) (*DB, error) {
	db := &DB{}
	var err error
	switch {
	case dsn == "":
		return nil, errors.New("empty database DSN")
	case IsPostgres(dsn):
		db.Dialect = Postgres
		db.DB, err = sql.Open("pgx", dsn)
	default:
		db.Dialect = SQLite
		path := dsn
		if dsn == ":memory:" {
			// One shared in-memory database per DB, not one per connection.
			path = "file:" + name + "-" + randomHex(8) + "?mode=memory&cache=shared"
		} else if err := ownerOnly(dsn); err != nil {
			return nil, err
		}
		db.DB, err = sql.Open("sqlite", sqliteDSN(path))
		if err == nil {
			db.SetMaxOpenConns(1) // SQLite has one writer: serialise here instead of SQLITE_BUSY
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	return db, nil
}

// ownerOnly creates the SQLite file 0600 when there is none (SQLite gives its WAL and shared
// memory files the database file's mode) and takes the access of others away from an existing
// database and its companions: what they hold (who was invited for which loan, which webhooks
// came) is nobody else's business.
func ownerOnly(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
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
			return fmt.Errorf("make %s readable by its owner only: %w", p, err)
		}
	}
	return nil
}

// sqliteDSN adds the pragmas: WAL, a busy timeout, and foreign keys enforced as PostgreSQL
// does.
func sqliteDSN(path string) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)"
}

// Q rewrites ? placeholders for PostgreSQL ($1, $2, …).
func (db *DB) Q(query string) string {
	if db.Dialect != Postgres {
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

// Migration is one step of a schema: a statement, then Go code for what SQL cannot do alone,
// in the same transaction.
type Migration struct {
	SQL string
	Run func(ctx context.Context, tx *sql.Tx) error
}

// Migrate applies statements, each a migration (MigrateSteps).
func (db *DB) Migrate(ctx context.Context, table string, statements []string) error {
	steps := make([]Migration, len(statements))
	for i, s := range statements {
		steps[i] = Migration{SQL: s}
	}
	return db.MigrateSteps(ctx, table, steps)
}

// MigrateSteps applies migrations in order, each once, recording them in table (one table per
// owner). Never edit a migration that has shipped: add another. Replicas starting together
// may race: a migration that fails because another one applied it meanwhile is not an error.
func (db *DB) MigrateSteps(ctx context.Context, table string, migrations []Migration) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+table+` (version INTEGER PRIMARY KEY, applied_at TIMESTAMP NOT NULL)`); err != nil {
		if _, cerr := db.applied(ctx, db, table, 0); cerr != nil { // not created by another replica either
			return fmt.Errorf("migrations table: %w", err)
		}
	}
	for i, m := range migrations {
		v := i + 1
		err := db.Tx(ctx, func(tx *sql.Tx) error {
			if n, err := db.applied(ctx, tx, table, v); err != nil || n > 0 {
				return err
			}
			if m.SQL != "" {
				if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
					return err
				}
			}
			if m.Run != nil {
				if err := m.Run(ctx, tx); err != nil {
					return err
				}
			}
			_, err := tx.ExecContext(ctx, db.Q(`INSERT INTO `+table+` (version, applied_at) VALUES (?, ?)`), v, time.Now().UTC())
			return err
		})
		if err != nil {
			if n, cerr := db.applied(ctx, db, table, v); cerr == nil && n > 0 {
				continue // another replica applied it
			}
			return fmt.Errorf("migration %d: %w", v, err)
		}
	}
	return nil
}

// applied counts the records of migration v in table.
func (db *DB) applied(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, table string, v int) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, db.Q(`SELECT COUNT(*) FROM `+table+` WHERE version = ?`), v).Scan(&n)
	return n, err
}

// Tx runs f in a transaction, committed when f returns nil.
func (db *DB) Tx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	return hex.EncodeToString(b)
}
