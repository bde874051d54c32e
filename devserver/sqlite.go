//go:build !production

package devserver

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	enums "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/resolver"
	"go.temporal.io/server/common/searchattribute/sadefs"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"google.golang.org/protobuf/types/known/durationpb"
)

// prepareSQLite opens the SQLite store of dbPath and makes sure it has Temporal's schema;
// the one database holds persistence and visibility.
func prepareSQLite(dbPath string, logger log.Logger) (dataStores, error) {
	c, err := sqlConfig(dbPath)
	if err != nil {
		return dataStores{}, err
	}
	if err := ensureSchema(c, logger); err != nil {
		return dataStores{}, err
	}
	return dataStores{name: "sqlite", main: c, visibility: c}, nil
}

// sqlConfig describes the SQLite store for dbPath (MemoryDB for in-memory)
// and creates the parent directory of a database file.
func sqlConfig(dbPath string) (*config.SQL, error) {
	c := &config.SQL{PluginName: sqliteplugin.PluginName}
	if dbPath == MemoryDB {
		// The plugin shares one connection per DSN process-wide, so each
		// in-memory server needs its own name to get its own database.
		c.DatabaseName = "epcflow-mem-" + strconv.FormatUint(rand.Uint64(), 36)
		c.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
		return c, nil
	}
	if strings.ContainsAny(dbPath, "?#") {
		// The plugin builds a "file:" URI from the path without escaping.
		return nil, fmt.Errorf("database path %q: must not contain '?' or '#'", dbPath)
	}
	abs, err := filepath.Abs(dbPath)
	if err != nil {
		return nil, fmt.Errorf("database path %q: %w", dbPath, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("create database directory: %w", err)
	}
	c.DatabaseName = abs
	// Keys other than SQLite URI parameters become PRAGMAs. WAL keeps the file
	// consistent if the process dies; synchronous=normal is durable across
	// process crashes (not power loss), fine for a dev store.
	c.ConnectAttributes = map[string]string{
		"mode":         "rwc",
		"journal_mode": "wal",
		"synchronous":  "normal",
		"busy_timeout": "10000",
	}
	return c, nil
}

// ensureSchema creates Temporal's tables in an empty database and accepts a
// database that already has them; anything else is refused rather than
// mixed into.
func ensureSchema(c *config.SQL, logger log.Logger) error {
	db, err := sql.NewSQLAdminDB(sqlplugin.DbKindUnknown, c, resolver.NewNoopResolver(), logger, metrics.NoopMetricsHandler)
	if err != nil {
		return fmt.Errorf("open sqlite database %s: %w", c.DatabaseName, err)
	}
	defer func() { _ = db.Close() }()

	tables, err := db.ListTables(c.DatabaseName)
	if err != nil {
		return fmt.Errorf("list tables of %s: %w", c.DatabaseName, err)
	}
	if len(tables) == 0 {
		if err := sqliteschema.SetupSchemaOnDB(db); err != nil {
			return fmt.Errorf("create temporal schema in %s: %w", c.DatabaseName, err)
		}
		return nil
	}
	for _, want := range []string{"namespaces", "executions", "executions_visibility"} {
		if !slices.Contains(tables, want) {
			return fmt.Errorf("database %s has tables but no %q table: not a Temporal database (or an incomplete one)", c.DatabaseName, want)
		}
	}
	return nil
}

// ensureNamespace inserts the namespace straight into the store when missing
// (SQLite or PostgreSQL: the helper takes any SQL store config),
// so it is usable the moment the server is up (registering it through the API
// would leave a window until every service's namespace cache refreshes).
// Search attributes given here are mapped onto the SQL visibility's
// pre-allocated columns; an existing namespace is left untouched.
func ensureNamespace(c *config.SQL, clusterName, name string, retention time.Duration, attrs map[string]enums.IndexedValueType) error {
	ns, err := sqliteschema.NewNamespaceConfig(clusterName, name, false, attrs)
	if err != nil {
		return fmt.Errorf("namespace %q: %w", name, err)
	}
	ns.Detail.Config.Retention = durationpb.New(retention)
	if err := sqliteschema.CreateNamespaces(c, ns); err != nil {
		return fmt.Errorf("register namespace %q: %w", name, err)
	}
	return nil
}

// validateSearchAttributes rejects what the server would refuse later, so the
// caller gets the reason before anything is written.
func validateSearchAttributes(attrs map[string]enums.IndexedValueType) error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		typ := attrs[name]
		switch {
		case name == "":
			errs = append(errs, errors.New("search attribute name must not be empty"))
		case sadefs.IsReserved(name):
			errs = append(errs, fmt.Errorf("search attribute %q: name is reserved by Temporal", name))
		}
		if _, ok := enums.IndexedValueType_name[int32(typ)]; !ok || typ == enums.INDEXED_VALUE_TYPE_UNSPECIFIED {
			errs = append(errs, fmt.Errorf("search attribute %q: invalid type %d", name, typ))
		}
	}
	return errors.Join(errs...)
}
