package dedup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/internal/sqldb"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// backends are the databases the store runs on here: SQLite always, PostgreSQL when reachable
// (CI and this machine run one at 127.0.0.1:5432; EPCFLOW_TEST_POSTGRES overrides the DSN).
func backends() map[string]func(t *testing.T, opts Options) *Store {
	return map[string]func(t *testing.T, opts Options) *Store{
		"sqlite": func(t *testing.T, opts Options) *Store {
			s, err := Open(context.Background(), filepath.Join(t.TempDir(), "dedup.db"), opts)
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			return s
		},
		"postgres": func(t *testing.T, opts Options) *Store {
			dsn := os.Getenv("EPCFLOW_TEST_POSTGRES")
			if dsn == "" {
				dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			admin, err := sqldb.Open(ctx, dsn, "")
			if err != nil {
				t.Skipf("PostgreSQL not reachable at %s: %v", dsn, err)
			}
			defer admin.Close()
			// A schema of its own per test keeps runs independent.
			b := make([]byte, 6)
			_, _ = rand.Read(b)
			schema := "dedup_test_" + hex.EncodeToString(b)
			_, err = admin.ExecContext(ctx, "CREATE SCHEMA "+schema)
			require.NoError(t, err)
			t.Cleanup(func() { _, _ = admin.DB.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
			s, err := Open(ctx, dsn+"&search_path="+schema, opts)
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
}

func TestStore(t *testing.T) {
	for name, open := range backends() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			c := &clock{now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
			s := open(t, Options{MaxAge: time.Hour, MaxKeys: 3, PruneEvery: -1, Now: c.Now})

			seen, err := s.Seen(ctx, "a")
			require.NoError(t, err)
			require.False(t, seen)
			require.NoError(t, s.Mark(ctx, "a"))
			require.NoError(t, s.Mark(ctx, "a"), "marking twice is fine")
			seen, err = s.Seen(ctx, "a")
			require.NoError(t, err)
			require.True(t, seen)

			// A key of any length is stored as its digest.
			long := string(make([]byte, 1<<20))
			require.NoError(t, s.Mark(ctx, long))
			seen, err = s.Seen(ctx, long)
			require.NoError(t, err)
			require.True(t, seen)

			// Past MaxAge a key no longer counts, even before it is pruned.
			c.add(61 * time.Minute)
			seen, err = s.Seen(ctx, "a")
			require.NoError(t, err)
			require.False(t, seen)
			n, err := s.Prune(ctx)
			require.NoError(t, err)
			require.EqualValues(t, 2, n)

			// The cap keeps the newest MaxKeys keys.
			for _, k := range []string{"k1", "k2", "k3", "k4", "k5"} {
				c.add(time.Second)
				require.NoError(t, s.Mark(ctx, k))
			}
			n, err = s.Prune(ctx)
			require.NoError(t, err)
			require.EqualValues(t, 2, n)
			for k, want := range map[string]bool{"k1": false, "k2": false, "k3": true, "k4": true, "k5": true} {
				seen, err := s.Seen(ctx, k)
				require.NoError(t, err)
				require.Equal(t, want, seen, k)
			}
		})
	}
}

func TestStoresShareOneDatabase(t *testing.T) {
	// Two replicas (and a migration run twice) on one file: what one marked, the other sees.
	path := filepath.Join(t.TempDir(), "shared.db")
	a, err := Open(context.Background(), path, Options{PruneEvery: -1})
	require.NoError(t, err)
	defer a.Close()
	b, err := Open(context.Background(), path, Options{PruneEvery: -1})
	require.NoError(t, err)
	defer b.Close()
	require.NoError(t, a.Mark(context.Background(), "k"))
	seen, err := b.Seen(context.Background(), "k")
	require.NoError(t, err)
	require.True(t, seen)
}

func TestBackgroundPruning(t *testing.T) {
	c := &clock{now: time.Now()}
	s, err := Open(context.Background(), ":memory:", Options{MaxAge: time.Minute, PruneEvery: 10 * time.Millisecond, Now: c.Now})
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Mark(context.Background(), "old"))
	c.add(2 * time.Minute)
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, s.db.QueryRow(`SELECT COUNT(*) FROM webhook_dedup`).Scan(&n))
		return n == 0
	}, 10*time.Second, 10*time.Millisecond, "the old key is pruned in the background")
}

// fakeBackend counts calls and fails on demand.
type fakeBackend struct {
	mu      sync.Mutex
	keys    map[string]bool
	seenErr error
	markErr error
	seens   int
}

func (f *fakeBackend) Seen(ctx context.Context, key string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seens++
	return f.keys[key], f.seenErr
}

func (f *fakeBackend) Mark(ctx context.Context, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.markErr != nil {
		return f.markErr
	}
	f.keys[key] = true
	return nil
}

func (f *fakeBackend) MaxAge() time.Duration { return time.Hour }

func TestGuard(t *testing.T) {
	ctx := context.Background()
	ok := func(context.Context) error { return nil }

	t.Run("a failed delivery marks nothing: the retry is delivered", func(t *testing.T) {
		b := &fakeBackend{keys: map[string]bool{}}
		g := NewGuard(b, GuardOptions{})
		dup, err := g.Deliver(ctx, "k", func(context.Context) error { return errors.New("temporal unavailable") })
		require.Error(t, err)
		require.False(t, dup)
		require.False(t, b.keys["k"])
		dup, err = g.Deliver(ctx, "k", ok)
		require.NoError(t, err)
		require.False(t, dup)
		require.True(t, b.keys["k"])
		dup, err = g.Deliver(ctx, "k", ok)
		require.NoError(t, err)
		require.True(t, dup)
	})

	t.Run("a key another replica delivered is a duplicate", func(t *testing.T) {
		b := &fakeBackend{keys: map[string]bool{"k": true}}
		dup, err := NewGuard(b, GuardOptions{}).Deliver(ctx, "k", func(context.Context) error { t.Fatal("delivered"); return nil })
		require.NoError(t, err)
		require.True(t, dup)
	})

	t.Run("the store down: delivered all the same, and told", func(t *testing.T) {
		b := &fakeBackend{keys: map[string]bool{}, seenErr: errors.New("down"), markErr: errors.New("down")}
		var ops []string
		g := NewGuard(b, GuardOptions{OnStoreError: func(op string, err error) { ops = append(ops, op) }})
		dup, err := g.Deliver(ctx, "k", ok)
		require.NoError(t, err)
		require.False(t, dup)
		require.Equal(t, []string{"seen", "mark"}, ops)
		// This process remembers what it delivered.
		dup, err = g.Deliver(ctx, "k", ok)
		require.NoError(t, err)
		require.True(t, dup)
	})

	t.Run("concurrent copies wait for the first", func(t *testing.T) {
		b := &fakeBackend{keys: map[string]bool{}}
		g := NewGuard(b, GuardOptions{})
		release := make(chan struct{})
		var delivered atomic.Int32
		var wg sync.WaitGroup
		var dups atomic.Int32
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				dup, err := g.Deliver(ctx, "k", func(context.Context) error {
					delivered.Add(1)
					<-release
					return nil
				})
				if err != nil {
					t.Error(err)
				}
				if dup {
					dups.Add(1)
				}
			}()
		}
		// Let the copies pile up on the one in flight, then let it finish.
		require.Eventually(t, func() bool { return delivered.Load() == 1 }, 5*time.Second, time.Millisecond)
		close(release)
		wg.Wait()
		require.EqualValues(t, 1, delivered.Load())
		require.EqualValues(t, 49, dups.Load())
	})
}
