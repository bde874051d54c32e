// Package dedup remembers which webhooks were delivered, so that a copy sent again (a
// platform retry, a replay by whoever captured one) is answered without reaching its
// workflow's history, where every signal counts against Temporal's limits.
//
// Store keeps the keys in a database every API replica shares (SQLite on one machine,
// PostgreSQL for many), bounded in age and in number and pruned in the background. Guard puts
// a key in it only once the delivery it stands for succeeded, and in front of it keeps the
// keys this process delivered lately and lets concurrent copies of one key wait for the first.
package dedup

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/epcflow/epcflow/internal/sqldb"
)

// Defaults of Options.
const (
	// DefaultMaxAge is how long a key is remembered: well beyond ICE's retries (for about
	// 8 hours), so no retry of a delivered webhook reaches the workflow again.
	DefaultMaxAge = 72 * time.Hour
	// DefaultMaxKeys caps the keys kept (about 100 bytes each).
	DefaultMaxKeys = 1_000_000
	// DefaultPruneEvery is the interval of background pruning.
	DefaultPruneEvery = 10 * time.Minute
)

// Options tune a Store.
type Options struct {
	// MaxAge is how long a key counts as seen (default DefaultMaxAge); older keys are pruned.
	MaxAge time.Duration
	// MaxKeys caps the keys kept, the oldest pruned first (default DefaultMaxKeys).
	MaxKeys int
	// PruneEvery is the interval of the background pruning (default DefaultPruneEvery;
	// negative: none, call Prune).
	PruneEvery time.Duration
	// Logger receives pruning failures and counts; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Store is the shared record of delivered keys.
type Store struct {
	db   *sqldb.DB
	opts Options

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// migrations of the dedup tables, applied in order, each once (recorded in
// webhook_dedup_migrations, so the store can share a database with the portal's).
var migrations = []string{
	`CREATE TABLE IF NOT EXISTS webhook_dedup (
		key_hash TEXT PRIMARY KEY,
		seen_at BIGINT NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS webhook_dedup_seen_at ON webhook_dedup (seen_at)`,
}

// Open opens the store at dsn (a postgres:// DSN, a SQLite file, or ":memory:"), applies its
// migrations and starts the background pruning. Close stops it.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = DefaultMaxKeys
	}
	if opts.PruneEvery == 0 {
		opts.PruneEvery = DefaultPruneEvery
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	db, err := sqldb.Open(ctx, dsn, "dedup")
	if err != nil {
		return nil, fmt.Errorf("dedup: %w", err)
	}
	if err := db.Migrate(ctx, "webhook_dedup_migrations", migrations); err != nil {
		db.Close()
		return nil, fmt.Errorf("dedup: %w", err)
	}
	s := &Store{db: db, opts: opts, stop: make(chan struct{}), done: make(chan struct{})}
	if opts.PruneEvery > 0 {
		go s.pruneLoop()
	} else {
		close(s.done)
	}
	return s, nil
}

// Close stops the pruning and closes the database.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.stop) })
	<-s.done
	return s.db.Close()
}

// MaxAge is how long a key counts as seen.
func (s *Store) MaxAge() time.Duration { return s.opts.MaxAge }

// hash bounds what is stored whatever the key's length, and keeps no webhook content.
func hash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// Seen reports whether key was marked within MaxAge.
func (s *Store) Seen(ctx context.Context, key string) (bool, error) {
	var at int64
	err := s.db.QueryRowContext(ctx, s.db.Q(`SELECT seen_at FROM webhook_dedup WHERE key_hash = ?`), hash(key)).Scan(&at)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("dedup: seen: %w", err)
	}
	return at >= s.cutoff(), nil
}

// Mark records key as delivered now.
func (s *Store) Mark(ctx context.Context, key string) error {
	_, err := s.db.ExecContext(ctx, s.db.Q(`INSERT INTO webhook_dedup (key_hash, seen_at) VALUES (?, ?)
		ON CONFLICT (key_hash) DO UPDATE SET seen_at = excluded.seen_at`), hash(key), s.opts.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("dedup: mark: %w", err)
	}
	return nil
}

func (s *Store) cutoff() int64 { return s.opts.Now().Add(-s.opts.MaxAge).UnixMilli() }

// Prune deletes the keys older than MaxAge, then the oldest beyond MaxKeys, and returns how
// many it deleted.
func (s *Store) Prune(ctx context.Context) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.db.Q(`DELETE FROM webhook_dedup WHERE seen_at < ?`), s.cutoff())
	if err != nil {
		return 0, fmt.Errorf("dedup: prune by age: %w", err)
	}
	n, _ := res.RowsAffected()
	// The newest key past the cap, if any: it and everything older go.
	var edge int64
	err = s.db.QueryRowContext(ctx, s.db.Q(`SELECT seen_at FROM webhook_dedup ORDER BY seen_at DESC LIMIT 1 OFFSET ?`), s.opts.MaxKeys).Scan(&edge)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return n, nil
	case err != nil:
		return n, fmt.Errorf("dedup: prune by count: %w", err)
	}
	res, err = s.db.ExecContext(ctx, s.db.Q(`DELETE FROM webhook_dedup WHERE seen_at <= ?`), edge)
	if err != nil {
		return n, fmt.Errorf("dedup: prune by count: %w", err)
	}
	m, _ := res.RowsAffected()
	return n + m, nil
}

func (s *Store) pruneLoop() {
	defer close(s.done)
	t := time.NewTicker(s.opts.PruneEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		n, err := s.Prune(ctx)
		cancel()
		switch {
		case err != nil:
			s.opts.Logger.Warn("dedup: pruning failed; trying again later", "error", err)
		case n > 0:
			s.opts.Logger.Info("dedup: pruned delivered-webhook keys", "deleted", n)
		}
	}
}
