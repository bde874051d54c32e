//go:build !production

package devserver

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	pgschema "go.temporal.io/server/schema/postgresql/v12"
	schematool "go.temporal.io/server/tools/common/schema"
	sqltool "go.temporal.io/server/tools/sql"

	"github.com/epcflow/epcflow/internal/testkit"
)

// secretPw is the password in the URLs below: no error may show it.
const secretPw = "Sekr3t-pw"

func TestParsePostgresURL(t *testing.T) {
	tests := []struct {
		name, url string
		// want on success
		addr, database, password string
		attrs                    map[string]string
		// wantErr: the error holds it (and never the password)
		wantErr string
	}{
		{name: "as documented", url: "postgres://postgres@127.0.0.1:5432/epcflow_temporal?sslmode=disable",
			addr: "127.0.0.1:5432", database: "epcflow_temporal", attrs: map[string]string{"sslmode": "disable", "connect_timeout": "10", "synchronous_commit": "off"}},
		{name: "postgresql scheme, default port, escaped password", url: "postgresql://u:" + secretPw + "%40x@localhost/db1",
			addr: "localhost:5432", database: "db1", password: secretPw + "@x", attrs: map[string]string{"sslmode": "disable", "connect_timeout": "10", "synchronous_commit": "off"}},
		{name: "IPv6 host, own attributes", url: "POSTGRES://u@[::1]:6543/_x_1?connect_timeout=3&sslmode=require&application_name=epc&synchronous_commit=on",
			addr: "[::1]:6543", database: "_x_1", attrs: map[string]string{"sslmode": "require", "connect_timeout": "3", "application_name": "epc", "synchronous_commit": "on"}},

		{name: "no user", url: "postgres://127.0.0.1:5432/db", wantErr: "user missing"},
		{name: "user that needs escaping", url: "postgres://us%3Aer@h/db", wantErr: `user "us:er": only letters, digits`},
		{name: "password with a space", url: "postgres://u:pa%20" + secretPw + "@h/db", wantErr: "password: must not contain a space"},
		{name: "unescaped slash in password", url: "postgres://u:" + secretPw + "/x@h/db", wantErr: "user or password: percent-encode"},
		{name: "unescaped slash in a numeric password", url: "postgres://u:12/" + secretPw + "@h/db", wantErr: "user or password: percent-encode"},
		{name: "no host", url: "postgres://u:" + secretPw + "@:5432/db", wantErr: "host missing"},
		{name: "no authority", url: "postgres:///db", wantErr: "want postgres://user[:password]@host[:port]/database"},
		{name: "port zero", url: "postgres://u@h:0/db", wantErr: `port "0": want 1-65535`},
		{name: "port too large", url: "postgres://u@h:99999/db", wantErr: `port "99999": want 1-65535`},
		{name: "port not a number", url: "postgres://u:" + secretPw + "@h:abc/db", wantErr: `invalid port ":abc"`},
		{name: "no database", url: "postgres://u:" + secretPw + "@h:5432", wantErr: "database name missing"},
		{name: "empty database", url: "postgres://u@h:5432/?sslmode=disable", wantErr: "database name missing"},
		{name: "upper-case database", url: "postgres://u@h/Epc", wantErr: `database name "Epc": want lower-case letters`},
		{name: "database with a slash", url: "postgres://u@h/a/b", wantErr: `database name "a/b"`},
		{name: "database starting with a digit", url: "postgres://u@h/1db", wantErr: `database name "1db"`},
		{name: "database name too long", url: "postgres://u@h/" + strings.Repeat("a", 53), wantErr: "at most 52 characters"},
		{name: "maintenance database", url: "postgres://u@h/postgres", wantErr: `database name "postgres": PostgreSQL's own`},
		{name: "password as a parameter", url: "postgres://u@h/db?password=" + secretPw, wantErr: `query parameter "password": give it in the URL itself`},
		{name: "host as a parameter", url: "postgres://u@h/db?host=/run/postgresql", wantErr: `query parameter "host"`},
		{name: "repeated parameter", url: "postgres://u@h/db?sslmode=require&sslmode=disable", wantErr: `query parameter "sslmode": given 2 times`},
		{name: "bad query escape", url: "postgres://u@h/db?sslmode=%zz", wantErr: "query: invalid URL escape"},
		{name: "fragment", url: "postgres://u@h/db#x", wantErr: "unexpected fragment #x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parsePostgresURL(tt.url)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Contains(t, err.Error(), "postgres URL ", "the error says what it is about")
				assert.NotContains(t, err.Error(), secretPw)
				assert.Equal(t, err, ValidateDBPath(tt.url))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.addr, p.addr)
			assert.Equal(t, tt.database, p.database)
			assert.Equal(t, tt.password, p.password)
			assert.Equal(t, tt.attrs, p.attrs)
			assert.NoError(t, ValidateDBPath(tt.url))
		})
	}
}

func TestRedactDBPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://u:" + secretPw + "@h:5432/db?sslmode=disable", "postgres://u:xxxxx@h:5432/db?sslmode=disable"},
		{"postgres://u@h:5432/db", "postgres://u@h:5432/db"},
		{"postgresql://u:" + secretPw + "/x@h/db", "postgresql://xxxxx@h/db"},
		{"postgres://u:" + secretPw + "?x@h/db", "postgres://xxxxx@h/db"},
		{"postgres://u@h/db?password=" + secretPw, "postgres://u@h/db?password=xxxxx"},
		{".epcflow/temporal.db", ".epcflow/temporal.db"},
		{MemoryDB, MemoryDB},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, RedactDBPath(tt.in), "RedactDBPath(%q)", tt.in)
	}
}

func TestIsPostgres(t *testing.T) {
	for in, want := range map[string]bool{
		"postgres://u@h/db": true, "postgresql://u@h/db": true, "Postgres://u@h/db": true,
		"postgres:/u@h/db": false, "temporal.db": false, MemoryDB: false, "mysql://u@h/db": false, "": false,
	} {
		assert.Equal(t, want, IsPostgres(in), "IsPostgres(%q)", in)
	}
}

// PostgresTestURL returns a URL for a database of the test's own (NAME and NAME_visibility on
// the test server), dropped when the test ends. The server is EPCFLOW_TEST_POSTGRES, which must
// answer, else postgres://postgres@127.0.0.1:5432/, and then the test is skipped only when the
// connection is refused. (Exported to the package's external tests.)
func PostgresTestURL(t *testing.T) string {
	t.Helper()
	u := testkit.PostgresServer(t)
	u.Path = "/epcflow_test_" + strconv.FormatUint(rand.Uint64(), 36)
	dbURL := u.String()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := DropPostgres(ctx, dbURL); err != nil {
			t.Errorf("drop the test database: %v", err)
		}
	})
	return dbURL
}

// TestPostgresUpdatesOlderSchema prepares databases left at the first schema version (as an
// older Temporal would have) and expects them brought up to this build's versions.
func TestPostgresUpdatesOlderSchema(t *testing.T) {
	dbURL := PostgresTestURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := parsePostgresURL(dbURL)
	require.NoError(t, err)
	logger := serverLogger{l: testkit.Logger(t, slog.LevelWarn)}
	dbs := map[string]string{ // database → schema
		p.database:                    "postgresql/v12/temporal",
		p.database + VisibilitySuffix: "postgresql/v12/visibility",
	}
	for name, schema := range dbs {
		require.NoError(t, p.createDatabase(ctx, name))
		c, err := sqltool.NewConnection(p.sqlConfig(name), logger)
		require.NoError(t, err)
		require.NoError(t, schematool.NewSetupSchemaTask(c, &schematool.SetupConfig{InitialVersion: "0.0"}, logger).Run())
		require.NoError(t, schematool.NewUpdateSchemaTask(c, &schematool.UpdateConfig{DBName: name, SchemaName: schema, TargetVersion: "1.0"}, logger).Run())
		c.Close()
		require.Equal(t, "1.0", schemaVersion(ctx, t, p, name))
	}

	_, err = preparePostgres(ctx, dbURL, logger)
	require.NoError(t, err)
	assert.Equal(t, pgschema.Version, schemaVersion(ctx, t, p, p.database))
	assert.Equal(t, pgschema.VisibilityVersion, schemaVersion(ctx, t, p, p.database+VisibilitySuffix))

	// A second preparation finds nothing to do.
	_, err = preparePostgres(ctx, dbURL, logger)
	require.NoError(t, err)
}

func schemaVersion(ctx context.Context, t *testing.T, p *pgTarget, database string) string {
	t.Helper()
	c, err := p.connect(ctx, database)
	require.NoError(t, err)
	defer c.Close(ctx)
	var v string
	require.NoError(t, c.QueryRow(ctx, "SELECT curr_version FROM schema_version WHERE version_partition = 0 AND db_name = $1", database).Scan(&v))
	return v
}
