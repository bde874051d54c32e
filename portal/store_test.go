package portal

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// databases are the databases the store runs on here, each giving a fresh empty DSN: SQLite
// always, PostgreSQL when reachable (CI and this machine run one at 127.0.0.1:5432;
// EPCFLOW_TEST_POSTGRES overrides the DSN), a schema of its own per test.
func databases(t *testing.T) map[string]func(t *testing.T) string {
	dsn := os.Getenv("EPCFLOW_TEST_POSTGRES")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	return map[string]func(t *testing.T) string{
		"sqlite": func(t *testing.T) string { return filepath.Join(t.TempDir(), "portal.db") },
		"postgres": func(t *testing.T) string {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			admin, err := open(ctx, dsn)
			if err != nil {
				t.Skipf("PostgreSQL not reachable at %s: %v", dsn, err)
			}
			defer admin.Close()
			schema := "portal_test_" + randomID(6)
			_, err = admin.db.ExecContext(ctx, "CREATE SCHEMA "+schema)
			require.NoError(t, err)
			t.Cleanup(func() {
				if a, err := open(context.Background(), dsn); err == nil {
					a.db.Exec("DROP SCHEMA " + schema + " CASCADE")
					a.Close()
				}
			})
			return dsn + "&search_path=" + schema
		},
	}
}

// onEachBackend runs test on a migrated store on each database, in a subtest of its own.
func onEachBackend(t *testing.T, test func(t *testing.T, s *Store)) {
	for name, fresh := range databases(t) {
		t.Run(name, func(t *testing.T) {
			s, err := Open(context.Background(), fresh(t))
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			test(t, s)
		})
	}
}

// mustUser resolves (creates) the portal user with this e-mail.
func mustUser(t *testing.T, s *Store, email string) User {
	t.Helper()
	u, _, err := s.ResolveUser(context.Background(), email, "", "")
	require.NoError(t, err)
	return u
}

var testSecret, _ = NewSecret("0123456789abcdef0123456789abcdef")

func TestStore(t *testing.T) {
	onEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()

		u, created, err := s.ResolveUser(ctx, " Donald@Example.com ", "Donald", "Duck")
		require.NoError(t, err)
		require.True(t, created)
		require.Equal(t, "donald@example.com", u.Email)
		again, created, err := s.ResolveUser(ctx, "donald@example.com", "", "")
		require.NoError(t, err)
		require.False(t, created)
		require.Equal(t, u.ID, again.ID)
		_, _, err = s.ResolveUser(ctx, "not-an-email", "", "")
		require.Error(t, err)

		other, _, err := s.ResolveUser(ctx, "daisy@example.com", "Daisy", "Duck")
		require.NoError(t, err)
		require.NoError(t, s.Bind(ctx, "pkg", "r1", u.ID))
		require.NoError(t, s.Bind(ctx, "pkg", "r1", u.ID), "binding the same user again is fine")
		require.ErrorIs(t, s.Bind(ctx, "pkg", "r1", other.ID), ErrBoundToOther)
		owner, err := s.BoundUser(ctx, "pkg", "r1")
		require.NoError(t, err)
		require.Equal(t, u.ID, owner)
	})
}

func TestBindRace(t *testing.T) {
	onEachBackend(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		var users []string
		for _, e := range []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com"} {
			u, _, err := s.ResolveUser(ctx, e, "", "")
			require.NoError(t, err)
			users = append(users, u.ID)
		}
		for round := 0; round < 10; round++ {
			rid := "r" + randomID(4)
			var wg sync.WaitGroup
			results := make([]error, len(users))
			start := make(chan struct{})
			for i, uid := range users {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					results[i] = s.Bind(ctx, "pkg-race", rid, uid)
				}()
			}
			close(start)
			wg.Wait()
			wins := 0
			for _, err := range results {
				switch {
				case err == nil:
					wins++
				case errors.Is(err, ErrBoundToOther):
				default:
					t.Fatalf("bind: %v", err)
				}
			}
			require.Equal(t, 1, wins, "exactly one user wins recipient %s", rid)
		}
	})
}

func TestMigrationsAreIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "portal.db")
	for i := 0; i < 2; i++ {
		s, err := Open(context.Background(), path)
		require.NoError(t, err)
		var n int
		require.NoError(t, s.db.QueryRow(`SELECT COUNT(*) FROM portal_schema_migrations`).Scan(&n))
		require.Equal(t, len(migrations), n)
		s.Close()
	}
}

// TestFilesAreOwnerOnly: the SQLite files are created 0600, and an existing database (and its
// WAL) readable by others is tightened when opened.
func TestFilesAreOwnerOnly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "portal.db")
	s, err := Open(context.Background(), path)
	require.NoError(t, err)
	_, _, err = s.ResolveUser(context.Background(), "a@example.com", "", "")
	require.NoError(t, err)
	perms := func() map[string]os.FileMode {
		files, err := filepath.Glob(path + "*")
		require.NoError(t, err)
		require.NotEmpty(t, files)
		m := map[string]os.FileMode{}
		for _, f := range files {
			st, err := os.Stat(f)
			require.NoError(t, err)
			m[filepath.Base(f)] = st.Mode().Perm()
		}
		return m
	}
	for f, p := range perms() {
		require.Equal(t, os.FileMode(0o600), p, "created %s", f)
	}
	require.NoError(t, s.Close())

	require.NoError(t, os.Chmod(path, 0o644))
	s, err = Open(context.Background(), path)
	require.NoError(t, err)
	defer s.Close()
	_, _, err = s.ResolveUser(context.Background(), "b@example.com", "", "")
	require.NoError(t, err)
	for f, p := range perms() {
		require.Equal(t, os.FileMode(0o600), p, "existing %s", f)
	}
}
