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

// backends are the databases the store runs on here: SQLite always, PostgreSQL when reachable
// (CI and this machine run one at 127.0.0.1:5432; EPCFLOW_TEST_POSTGRES overrides the DSN).
func backends(t *testing.T) map[string]func(t *testing.T) *Store {
	m := map[string]func(t *testing.T) *Store{
		"sqlite": func(t *testing.T) *Store {
			s, err := Open(context.Background(), filepath.Join(t.TempDir(), "portal.db"))
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
	dsn := os.Getenv("EPCFLOW_TEST_POSTGRES")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	m["postgres"] = func(t *testing.T) *Store {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		admin, err := Open(ctx, dsn)
		if err != nil {
			t.Skipf("PostgreSQL not reachable at %s: %v", dsn, err)
		}
		// A schema of its own per test keeps runs independent.
		schema := "portal_test_" + randomID(6)
		_, err = admin.db.ExecContext(ctx, "CREATE SCHEMA "+schema)
		require.NoError(t, err)
		admin.Close()
		s, err := Open(ctx, dsn+"&search_path="+schema)
		require.NoError(t, err)
		t.Cleanup(func() {
			s.Close()
			if a, err := Open(context.Background(), dsn); err == nil {
				a.db.Exec("DROP SCHEMA " + schema + " CASCADE")
				a.Close()
			}
		})
		return s
	}
	return m
}

func TestStore(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
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

			tok, err := s.IssueToken(ctx, u.ID, time.Hour)
			require.NoError(t, err)
			got, err := s.UserByToken(ctx, tok)
			require.NoError(t, err)
			require.Equal(t, u.ID, got.ID)
			_, err = s.UserByToken(ctx, tok+"x")
			require.ErrorIs(t, err, ErrNotFound)
			s.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
			_, err = s.UserByToken(ctx, tok)
			require.ErrorIs(t, err, ErrNotFound, "expired token")
			s.now = time.Now

			other, _, err := s.ResolveUser(ctx, "daisy@example.com", "Daisy", "Duck")
			require.NoError(t, err)
			require.NoError(t, s.Bind(ctx, "pkg", "r1", u.ID))
			require.NoError(t, s.Bind(ctx, "pkg", "r1", u.ID), "binding the same user again is fine")
			require.ErrorIs(t, s.Bind(ctx, "pkg", "r1", other.ID), ErrBoundToOther)
			owner, err := s.BoundUser(ctx, "pkg", "r1")
			require.NoError(t, err)
			require.Equal(t, u.ID, owner)

			a, first, err := s.SaveAnswer(ctx, "pkg", []byte(`{"n":1}`))
			require.NoError(t, err)
			require.True(t, first)
			a2, first, err := s.SaveAnswer(ctx, "pkg", []byte(`{"n":2}`))
			require.NoError(t, err)
			require.False(t, first)
			require.Equal(t, string(a), string(a2))
		})
	}
}

func TestBindRace(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
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

func TestPackages(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			ctx := context.Background()
			_, err := s.PackageByID(ctx, "pkg-1")
			require.ErrorIs(t, err, ErrNotFound)

			require.NoError(t, s.SavePackage(ctx, "i/loans/g/pkg-1", "pkg-1", "i", "loans", "g", []string{"r1", "r2"}))
			// A resend under the same key keeps the first recipients.
			require.NoError(t, s.SavePackage(ctx, "i/loans/g/pkg-1", "pkg-1", "i", "loans", "g", []string{"r3"}))
			p, err := s.PackageByID(ctx, "pkg-1")
			require.NoError(t, err)
			require.Equal(t, Package{Key: "i/loans/g/pkg-1", PackageID: "pkg-1", InstanceID: "i", GroupNamespace: "loans",
				GroupID: "g", RecipientIDs: []string{"r1", "r2"}}, p)
			require.True(t, p.HasRecipient("r2"))
			require.False(t, p.HasRecipient("r3"))

			// The same packageId under another loan makes the id ambiguous.
			require.NoError(t, s.SavePackage(ctx, "i/loans/h/pkg-1", "pkg-1", "i", "loans", "h", []string{"r1"}))
			_, err = s.PackageByID(ctx, "pkg-1")
			require.ErrorIs(t, err, ErrAmbiguous)
		})
	}
}
