//go:build !production

package devserver_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enums "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/epcflow/epcflow/devserver"
	"github.com/epcflow/epcflow/internal/testkit"
)

// TestPostgresServerKeepsWorkflowsAcrossRestart runs a workflow on a server backed by
// PostgreSQL, stops it, starts another on the same database and finds the workflow there,
// completed and searchable; the database password never shows in the server's logs.
func TestPostgresServerKeepsWorkflowsAcrossRestart(t *testing.T) {
	dbURL, password := withPassword(t, devserver.PostgresTestURL(t))
	logs := &testkit.Logs{}
	cfg := devserver.Config{
		DBPath:           dbURL,
		UIPort:           devserver.NoUI,
		SearchAttributes: map[string]enums.IndexedValueType{saName: enums.INDEXED_VALUE_TYPE_KEYWORD},
		Logger:           logs.Text(),
		LogLevel:         slog.LevelDebug,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// First life, on databases that do not exist yet.
	s1 := startServer(t, cfg)
	c1 := dial(t, s1, testkit.Logger(t, slog.LevelWarn))
	w1 := startWorker(t, c1)
	run := startPackage(ctx, t, c1, "pg-package-1", "postgres", "r1")
	open(ctx, t, c1, run, "r1", "u1")
	require.Equal(t, map[string]string{"r1": "u1"}, openers(ctx, t, run))
	query := saName + " = 'postgres'"
	assert.EventuallyWithT(t, func(ct *assert.CollectT) {
		resp, err := c1.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: s1.Namespace(), Query: query})
		assert.NoError(ct, err)
		assert.Len(ct, resp.GetExecutions(), 1)
	}, 10*time.Second, 50*time.Millisecond, "query %q", query)
	w1.Stop()
	c1.Close()
	require.NoError(t, s1.Stop())

	logText := logs.String()
	require.Contains(t, logText, "component=temporal-server", "the server's logs are captured")
	assert.NotContains(t, logText, password, "the database password is in the server's logs")

	// Second life on the same databases.
	cfg.Logger, cfg.LogLevel = testkit.Logger(t, slog.LevelWarn), nil
	s2 := startServer(t, cfg)
	c2 := dial(t, s2, testkit.Logger(t, slog.LevelWarn))
	defer c2.Close()
	desc, err := c2.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
	require.NoError(t, err)
	assert.Equal(t, enums.WORKFLOW_EXECUTION_STATUS_COMPLETED, desc.GetWorkflowExecutionInfo().GetStatus())
	assert.Equal(t, map[string]string{"r1": "u1"}, openers(ctx, t, c2.GetWorkflow(ctx, run.GetID(), run.GetRunID())))
	resp, err := c2.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: s2.Namespace(), Query: query})
	require.NoError(t, err)
	require.Len(t, resp.GetExecutions(), 1)
	assert.Equal(t, "pg-package-1", resp.GetExecutions()[0].GetExecution().GetWorkflowId())

	// Visibility lives in the second database, as documented.
	visURL, err := url.Parse(dbURL)
	require.NoError(t, err)
	visURL.Path += devserver.VisibilitySuffix
	conn, err := pgx.Connect(ctx, visURL.String())
	require.NoError(t, err)
	defer conn.Close(ctx)
	var n int
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM executions_visibility WHERE workflow_id = $1", "pg-package-1").Scan(&n))
	assert.Equal(t, 1, n)
}

// TestPostgresRefusesForeignDatabase points the server at a database with someone else's
// tables: it must refuse, not add Temporal's beside them.
func TestPostgresRefusesForeignDatabase(t *testing.T) {
	dbURL := devserver.PostgresTestURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	name := strings.TrimPrefix(u.Path, "/")
	u.Path = "/postgres"
	admin, err := pgx.Connect(ctx, u.String())
	require.NoError(t, err)
	_, err = admin.Exec(ctx, "CREATE DATABASE "+name)
	admin.Close(ctx)
	require.NoError(t, err)
	db, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	_, err = db.Exec(ctx, "CREATE TABLE orders (id int)")
	db.Close(ctx)
	require.NoError(t, err)

	s, err := devserver.Start(ctx, devserver.Config{DBPath: dbURL, UIPort: devserver.NoUI, Logger: testkit.Logger(t, slog.LevelWarn)})
	if s != nil {
		_ = s.Stop()
	}
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf(`database %q on %s has tables but no "namespaces" table: not a Temporal database`, name, u.Host))
}

// TestPostgresUnreachable needs no PostgreSQL: nothing listens on the port.
func TestPostgresUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	const secret = "unreachable-pw-81c"
	dbURL := "postgres://epc:" + secret + "@" + addr + "/epcflow_temporal"

	s, err := devserver.Start(context.Background(), devserver.Config{DBPath: dbURL, UIPort: devserver.NoUI})
	if s != nil {
		_ = s.Stop()
	}
	require.Error(t, err)
	assert.Contains(t, err.Error(), "PostgreSQL at "+addr+" is unreachable")
	assert.Contains(t, err.Error(), "connection refused")
	assert.NotContains(t, err.Error(), secret)

	err = devserver.DropPostgres(context.Background(), dbURL)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "PostgreSQL at "+addr+" is unreachable")
}

// withPassword gives the URL a password when it has none (trust authentication ignores it),
// so that the tests can look for it where it must not be.
func withPassword(t *testing.T, dbURL string) (string, string) {
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	if pw, ok := u.User.Password(); ok && pw != "" {
		return dbURL, pw
	}
	const marker = "marker-db-password-3e9"
	u.User = url.UserPassword(u.User.Username(), marker)
	return u.String(), marker
}
