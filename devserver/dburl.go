package devserver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const (
	// VisibilitySuffix names the visibility database of a PostgreSQL store: a Start on
	// postgres://…/NAME uses NAME and NAME_visibility.
	VisibilitySuffix = "_visibility"

	pgDefaultPort = "5432"
	// pgMaintenanceDB is where databases are created and dropped from.
	pgMaintenanceDB = "postgres"
	// pgMaxNameLen leaves room for VisibilitySuffix within PostgreSQL's 63-byte names.
	pgMaxNameLen = 63 - len(VisibilitySuffix)
	// pgMaxConns bounds each of the server's pools (one per service and store, about eight
	// in all), so that one server stays under PostgreSQL's default of 100 connections.
	pgMaxConns = 10
	// pgConnectTimeout (seconds) bounds a connection attempt unless the URL sets its own:
	// a host that drops packets would otherwise hang the start for minutes.
	pgConnectTimeout = "10"
	// pgSynchronousCommit is the default for the server's sessions. "off" is the SQLite
	// store's trade-off (synchronous=normal): a crash of this process loses nothing, one of
	// the machine may lose the last moments' commits, never consistency. It halves the time
	// of a restart test here; ?synchronous_commit=on restores full durability.
	pgSynchronousCommit = "off"
	// redacted stands for a password, as url.URL.Redacted writes it.
	redacted = "xxxxx"
)

// IsPostgres reports whether dbPath is a PostgreSQL URL (postgres:// or postgresql://)
// rather than a SQLite path.
func IsPostgres(dbPath string) bool {
	scheme, _, ok := strings.Cut(dbPath, "://")
	return ok && (strings.EqualFold(scheme, "postgres") || strings.EqualFold(scheme, "postgresql"))
}

// RedactDBPath returns dbPath fit for logs and messages: a PostgreSQL URL with its password
// replaced by "xxxxx", a SQLite path as it is.
func RedactDBPath(dbPath string) string {
	if !IsPostgres(dbPath) {
		return dbPath
	}
	u, err := url.Parse(dbPath)
	// A password with an unescaped '/', '?' or '#' moves the '@' out of the authority.
	if err != nil || (u.User == nil && strings.Contains(dbPath, "@")) {
		scheme, rest, _ := strings.Cut(dbPath, "://")
		if i := strings.LastIndex(rest, "@"); i >= 0 {
			rest = redacted + rest[i:]
		}
		return scheme + "://" + rest
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", redacted)
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// ValidateDBPath checks a Config.DBPath without touching anything, so that a command can
// refuse a bad one before it starts: a PostgreSQL URL part by part, a SQLite path for the
// characters the SQLite plugin cannot take. Errors never hold a password.
func ValidateDBPath(dbPath string) error {
	if IsPostgres(dbPath) {
		_, err := parsePostgresURL(dbPath)
		return err
	}
	if dbPath != MemoryDB && strings.ContainsAny(dbPath, "?#") {
		return fmt.Errorf("database path %q: must not contain '?' or '#'", dbPath)
	}
	return nil
}

// pgTarget is a parsed PostgreSQL URL.
type pgTarget struct {
	user, password string
	hasPassword    bool
	addr           string // host:port
	database       string
	attrs          map[string]string // query parameters: sslmode, connect_timeout, …
}

func parsePostgresURL(raw string) (*pgTarget, error) {
	shown := RedactDBPath(raw)
	bad := func(format string, args ...any) error {
		return fmt.Errorf("postgres URL %s: %s", shown, fmt.Sprintf(format, args...))
	}
	const encodeUserinfo = "user or password: percent-encode any '/', '?', '#', '@' or space in them"
	u, err := url.Parse(raw)
	if err != nil {
		// The reason may quote the password (an unescaped '/' in it makes the rest a port):
		// take it from the URL with its user and password redacted.
		if _, err := url.Parse(shown); err != nil {
			if ue := (*url.Error)(nil); errors.As(err, &ue) {
				err = ue.Err // without the URL
			}
			return nil, bad("%v", err)
		}
		return nil, bad(encodeUserinfo)
	}
	if u.User == nil && strings.Contains(raw, "@") {
		return nil, bad(encodeUserinfo)
	}
	if u.Opaque != "" || u.Host == "" {
		return nil, bad("want postgres://user[:password]@host[:port]/database")
	}
	p := &pgTarget{attrs: map[string]string{}}
	if u.User != nil {
		p.user = u.User.Username()
		p.password, p.hasPassword = u.User.Password()
	}
	switch {
	case p.user == "":
		return nil, bad("user missing: postgres://USER@host:port/database")
	case url.QueryEscape(p.user) != p.user:
		// Temporal's plugin puts the user into its DSN unescaped.
		return nil, bad("user %q: only letters, digits and '.', '_', '-', '~' are supported", p.user)
	case strings.Contains(p.password, " "):
		// Temporal's plugin escapes the password for a query, turning a space into '+'.
		return nil, bad("password: must not contain a space")
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return nil, bad("host missing: postgres://user@HOST:port/database")
	}
	if port == "" {
		port = pgDefaultPort
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, bad("port %q: want 1-65535", port)
	}
	p.addr = net.JoinHostPort(host, port)
	if p.database, err = pgDatabaseName(u.Path); err != nil {
		return nil, bad("%v", err)
	}
	if u.Fragment != "" {
		return nil, bad("unexpected fragment #%s", u.Fragment)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, bad("query: %v", err)
	}
	for _, k := range slices.Sorted(maps.Keys(q)) {
		switch strings.ToLower(k) {
		case "host", "hostaddr", "port", "user", "password", "dbname", "database":
			// They would override the parts of the URL that the server and these checks use.
			return nil, bad("query parameter %q: give it in the URL itself", k)
		}
		if len(q[k]) > 1 {
			return nil, bad("query parameter %q: given %d times", k, len(q[k]))
		}
		p.attrs[k] = q.Get(k)
	}
	if _, ok := p.attrs["connect_timeout"]; !ok {
		p.attrs["connect_timeout"] = pgConnectTimeout
	}
	if _, ok := p.attrs["sslmode"]; !ok {
		p.attrs["sslmode"] = "disable" // what Temporal's plugin assumes too
	}
	if _, ok := p.attrs["synchronous_commit"]; !ok {
		p.attrs["synchronous_commit"] = pgSynchronousCommit
	}
	return p, nil
}

// pgDatabaseName checks the URL's path as a database name. Temporal's plugin drops databases
// by unquoted name, so only names that need no quoting are taken.
func pgDatabaseName(path string) (string, error) {
	name := strings.TrimPrefix(path, "/")
	if name == "" {
		return "", errors.New("database name missing: postgres://user@host:port/DATABASE")
	}
	valid := len(name) <= pgMaxNameLen && (name[0] == '_' || name[0] >= 'a' && name[0] <= 'z')
	for _, r := range name {
		valid = valid && (r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	}
	if !valid {
		return "", fmt.Errorf("database name %q: want lower-case letters, digits and '_', starting with a letter or '_', at most %d characters", name, pgMaxNameLen)
	}
	if slices.Contains([]string{pgMaintenanceDB, "template0", "template1"}, name) {
		return "", fmt.Errorf("database name %q: PostgreSQL's own database; name one for Temporal", name)
	}
	return name, nil
}

// connString is a pgx connection string for database on the same server.
func (p *pgTarget) connString(database string) string {
	u := url.URL{Scheme: "postgres", Host: p.addr, Path: "/" + database, User: url.User(p.user)}
	if p.hasPassword {
		u.User = url.UserPassword(p.user, p.password)
	}
	q := url.Values{}
	for k, v := range p.attrs {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// reach dials the server first: an unreachable one gets a short error naming host:port.
func (p *pgTarget) reach(ctx context.Context) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return p.redact(fmt.Errorf("PostgreSQL at %s is unreachable: %w", p.addr, err))
	}
	return c.Close()
}

func (p *pgTarget) connect(ctx context.Context, database string) (*pgx.Conn, error) {
	c, err := pgx.Connect(ctx, p.connString(database))
	if err != nil {
		// The server's own words (e.g. authentication failed) without pgx's preamble.
		cause := err
		if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) {
			cause = pe
		}
		return nil, p.redact(fmt.Errorf("connect to PostgreSQL at %s as user %q, database %q: %w", p.addr, p.user, database, cause))
	}
	return c, nil
}

// redact keeps the password out of err's message; errors.Is and As still see the cause.
func (p *pgTarget) redact(err error) error {
	if err == nil || p.password == "" || !strings.Contains(err.Error(), p.password) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), p.password, redacted), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// DropPostgres drops the two databases a Start on dbURL uses (NAME and NAME_visibility),
// ending their open connections first; a missing one is no error. It is for tests and for
// throwing a development database away: the data is gone for good.
func DropPostgres(ctx context.Context, dbURL string) error {
	p, err := parsePostgresURL(dbURL)
	if err != nil {
		return err
	}
	if err := p.reach(ctx); err != nil {
		return err
	}
	conn, err := p.connect(ctx, pgMaintenanceDB)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	for _, name := range []string{p.database, p.database + VisibilitySuffix} {
		if _, err := conn.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name); err != nil {
			return p.redact(fmt.Errorf("end the connections to database %q: %w", name, err))
		}
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()); err != nil {
			return p.redact(fmt.Errorf("drop database %q: %w", name, err))
		}
	}
	return nil
}
