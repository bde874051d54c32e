//go:build !production

package devserver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	pgschema "go.temporal.io/server/schema/postgresql/v12"
	schematool "go.temporal.io/server/tools/common/schema"
	sqltool "go.temporal.io/server/tools/sql"
)

// sqlConfig is the Temporal store of one of the two databases.
func (p *pgTarget) sqlConfig(database string) *config.SQL {
	return &config.SQL{
		PluginName:        postgresql.PluginNamePGX,
		DatabaseName:      database,
		ConnectAddr:       p.addr,
		ConnectProtocol:   "tcp",
		User:              p.user,
		Password:          p.password,
		ConnectAttributes: maps.Clone(p.attrs),
		MaxConns:          pgMaxConns,
		MaxIdleConns:      pgMaxConns,
		MaxConnLifetime:   time.Hour,
	}
}

// pgDatabase is one of the two databases a server uses.
type pgDatabase struct {
	name, schema, version string
	tables                []string // that a Temporal database of this kind has
}

// preparePostgres makes both databases ready for the server: created when missing, the
// schema set up in an empty one and brought up to this build's version in an existing one.
// A database with tables that are not Temporal's is refused rather than mixed into.
func preparePostgres(ctx context.Context, dbURL string, logger log.Logger) (dataStores, error) {
	p, err := parsePostgresURL(dbURL)
	if err != nil {
		return dataStores{}, err
	}
	if err := p.reach(ctx); err != nil {
		return dataStores{}, err
	}
	for _, db := range []pgDatabase{
		{p.database, "postgresql/v12/temporal", pgschema.Version, []string{"namespaces", "executions", "history_node", "schema_version"}},
		{p.database + VisibilitySuffix, "postgresql/v12/visibility", pgschema.VisibilityVersion, []string{"executions_visibility", "schema_version"}},
	} {
		if err := p.ensureDatabase(ctx, db, logger); err != nil {
			return dataStores{}, err
		}
	}
	return dataStores{
		name:       "postgres",
		main:       p.sqlConfig(p.database),
		visibility: p.sqlConfig(p.database + VisibilitySuffix),
	}, nil
}

func (p *pgTarget) ensureDatabase(ctx context.Context, db pgDatabase, logger log.Logger) error {
	conn, err := p.connect(ctx, db.name)
	if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == "3D000" { // invalid_catalog_name
		if err := p.createDatabase(ctx, db.name); err != nil {
			return err
		}
		conn, err = p.connect(ctx, db.name)
	}
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()

	rows, err := conn.Query(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
	if err != nil {
		return p.redact(fmt.Errorf("list tables of database %q: %w", db.name, err))
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return p.redact(fmt.Errorf("list tables of database %q: %w", db.name, err))
	}
	if len(tables) == 0 {
		return p.runSchemaTool(db, logger, true)
	}
	for _, want := range db.tables {
		if !slices.Contains(tables, want) {
			return fmt.Errorf("database %q on %s has tables but no %q table: not a Temporal database (or an incomplete one)", db.name, p.addr, want)
		}
	}
	var version string
	err = conn.QueryRow(ctx, "SELECT curr_version FROM schema_version WHERE version_partition = 0 AND db_name = $1", db.name).Scan(&version)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("database %q on %s has Temporal's tables but no schema version: an incomplete setup (drop the database to start afresh)", db.name, p.addr)
	case err != nil:
		return p.redact(fmt.Errorf("read the schema version of database %q: %w", db.name, err))
	case version == db.version:
		return nil
	}
	// A newer database than this build knows is refused by the update task (start > target).
	return p.runSchemaTool(db, logger, false)
}

// runSchemaTool runs Temporal's schema tool on the database: setup (the embedded schema at
// this build's version) or update (the versioned steps up to it).
func (p *pgTarget) runSchemaTool(db pgDatabase, logger log.Logger, setup bool) error {
	c, err := sqltool.NewConnection(p.sqlConfig(db.name), logger)
	if err != nil {
		return p.redact(fmt.Errorf("open database %q: %w", db.name, err))
	}
	defer c.Close()
	what := "set up"
	if setup {
		err = schematool.NewSetupSchemaTask(c, &schematool.SetupConfig{SchemaName: db.schema, InitialVersion: db.version}, logger).Run()
	} else {
		what = "update"
		err = schematool.NewUpdateSchemaTask(c, &schematool.UpdateConfig{DBName: db.name, SchemaName: db.schema, TargetVersion: db.version}, logger).Run()
	}
	if err != nil {
		return p.redact(fmt.Errorf("%s Temporal schema %s (version %s) in database %q: %w", what, db.schema, db.version, db.name, err))
	}
	return nil
}

func (p *pgTarget) createDatabase(ctx context.Context, name string) error {
	conn, err := p.connect(ctx, pgMaintenanceDB)
	if err != nil {
		return fmt.Errorf("create database %q: %w", name, err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == "42P04" { // duplicate_database: a concurrent start
		return nil
	}
	if err != nil {
		return p.redact(fmt.Errorf("create database %q on %s: %w", name, p.addr, err))
	}
	return nil
}
