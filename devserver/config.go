// Package devserver runs a real Temporal server (SQLite or PostgreSQL
// persistence, all services in-process) and, optionally, the Temporal Web UI:
// a local stand-in for a Temporal cluster, for development and tests.
package devserver

import (
	"log/slog"
	"time"

	enums "go.temporal.io/api/enums/v1"
)

const (
	// MemoryDB as Config.DBPath keeps all state in memory; every Start gets a
	// fresh database (its memory is only freed when the process exits).
	MemoryDB = ":memory:"
	// DefaultDBPath is used when Config.DBPath is empty.
	DefaultDBPath = ".epcflow/temporal.db"
	// DefaultFrontendPort and DefaultUIPort are the usual Temporal dev ports,
	// for callers that want them (a zero port in Config means "pick a free one").
	DefaultFrontendPort = 7233
	DefaultUIPort       = 8233
	// NoUI as Config.UIPort disables the Web UI.
	NoUI = -1
)

// Config configures Start. The zero value is usable: a file-backed server
// in DefaultDBPath on free loopback ports with the UI.
type Config struct {
	// DBPath is the SQLite file ("" → DefaultDBPath; MemoryDB → in memory),
	// whose directory is created (0700) when missing; or a PostgreSQL URL,
	// postgres://user[:password]@host[:port]/NAME[?sslmode=…] (or postgresql://):
	// persistence in database NAME and visibility in NAME_visibility, both
	// created when missing (from the "postgres" database) and their schema set
	// up or updated at start. NAME is lower-case letters, digits and '_'.
	// Other query parameters go to the connections; defaults: sslmode=disable,
	// connect_timeout=10 (seconds), synchronous_commit=off (durable across a
	// crash of this process, like the SQLite store; =on for full durability).
	// The password never appears in logs or errors (see RedactDBPath).
	DBPath string
	// Host to bind every listener on; default "127.0.0.1".
	Host string
	// FrontendPort is the gRPC port SDK clients dial; 0 picks a free port.
	FrontendPort int
	// FrontendHTTPPort is the frontend's HTTP API port; 0 picks a free port.
	FrontendHTTPPort int
	// UIPort serves the Web UI; 0 picks a free port, NoUI disables it.
	UIPort int
	// UICodecEndpoint, when set, is the codec server the UI uses to decode payloads.
	UICodecEndpoint string
	// Namespace is registered at start when missing; default "default".
	Namespace string
	// Retention of closed workflows in a namespace created by Start; default 24h.
	Retention time.Duration
	// SearchAttributes are registered on the namespace at every start
	// (idempotently); an existing attribute of another type is an error.
	// With SQL visibility (SQLite or PostgreSQL) each type has a few
	// pre-allocated slots (e.g. 10 Keyword, 3 Int). Attributes added to an
	// already existing namespace become usable by workflows after the
	// namespace cache refresh (about 2s).
	SearchAttributes map[string]enums.IndexedValueType
	// LongPollExpiration sets history.longPollExpirationInterval; default 2s.
	// Temporal's 20s default can hold WorkflowRun.Get that long.
	LongPollExpiration time.Duration
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// LogLevel filters server logs before Logger; nil → slog.LevelWarn
	// (Temporal logs a lot at Info).
	LogLevel slog.Leveler
	// ExtraDynamicConfig overrides dynamic config (key → value), applied last.
	ExtraDynamicConfig map[string]any
}
