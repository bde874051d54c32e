package bench

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/epcflow/epcflow/devserver"
)

// databaseBytes is how much the Temporal databases at dbPath take: for PostgreSQL the two
// databases a run uses (NAME and NAME_visibility, pg_database_size), for a SQLite file the
// file and its write-ahead log; ok is false for an in-memory database.
func databaseBytes(ctx context.Context, dbPath string) (n int64, ok bool, err error) {
	switch {
	case dbPath == devserver.MemoryDB:
		return 0, false, nil
	case devserver.IsPostgres(dbPath):
		u, err := url.Parse(dbPath)
		if err != nil {
			return 0, false, fmt.Errorf("database size: %w", err)
		}
		name := strings.TrimPrefix(u.Path, "/")
		conn, err := pgx.Connect(ctx, dbPath)
		if err != nil {
			return 0, false, fmt.Errorf("database size: connect to %s: %w", devserver.RedactDBPath(dbPath), err)
		}
		defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
		err = conn.QueryRow(ctx, "SELECT pg_database_size($1) + pg_database_size($2)", name, name+devserver.VisibilitySuffix).Scan(&n)
		if err != nil {
			return 0, false, fmt.Errorf("database size of %s: %w", name, err)
		}
		return n, true, nil
	}
	for _, p := range []string{dbPath, dbPath + "-wal"} {
		fi, err := os.Stat(p)
		if err != nil {
			if os.IsNotExist(err) && p != dbPath {
				continue
			}
			return 0, false, fmt.Errorf("database size: %w", err)
		}
		n += fi.Size()
	}
	return n, true, nil
}
