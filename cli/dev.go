//go:build !production

package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/epcflow/epcflow/codec"
	"github.com/epcflow/epcflow/demo"
	"github.com/epcflow/epcflow/devserver"
	"github.com/epcflow/epcflow/portal"
	"github.com/epcflow/epcflow/sandbox"
	"github.com/epcflow/epcflow/stack"
)

func runDev(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "dev")
	var (
		temporalPort, uiPort                    int
		apiListen, sbListen, db, dataDir, token string
		portalSecretFlag                        string
		demoOn, encrypt                         bool
		demoOrders                              int
		codecKeys                               codecKeysFlag
		webhookRetry, recheck                   time.Duration
		logs                                    logging
		httpf                                   httpFlags
		vocabPath                               string
	)
	vocabularyFlag(f, &vocabPath)
	f.integer(&temporalPort, "temporal-port", "", 7233, "embedded Temporal frontend (gRPC) port")
	f.integer(&uiPort, "ui-port", "", 8233, "Temporal Web UI port (-1: no UI)")
	f.str(&apiListen, "api-listen", "", "127.0.0.1:8080", "epcflow API address; the sandbox sends its webhooks here")
	f.str(&sbListen, "sandbox-listen", "", "127.0.0.1:8090", "sandbox address")
	dataDirFlag(f, &dataDir, "directory for the Temporal database, stored files, and where the parts listen (stack.json, for `epcflow start`)")
	f.temporalDB(&db, "db", "EPCFLOW_TEMPORAL_DB", "", "Temporal `database`: a SQLite file (default <data-dir>/temporal.db), \":memory:\", or postgres://user[:password]@host[:port]/NAME (databases NAME and NAME_visibility, created when missing)")
	f.secret(&token, "operator-token", "EPCFLOW_OPERATOR_TOKEN", "", "bearer token for the operator endpoints (empty: open, allowed only while --api-listen is a loopback address)")
	f.boolean(&encrypt, "encrypt-payloads", true, "encrypt Temporal payloads (key: --codec-keys, else <data-dir>/codec-keys, generated at the first start; an ephemeral key with --db :memory:)")
	codecKeys.register(f)
	f.secret(&portalSecretFlag, "portal-secret", "EPCFLOW_PORTAL_SECRET", "", "portal secret deriving the invitation links (default: <data-dir>/portal-secret, generated at the first start; an ephemeral one with --db :memory:)")
	f.boolean(&demoOn, "demo", true, "place demo orders (once per data directory) and run a simulated appraiser")
	f.integer(&demoOrders, "demo-orders", "", 0, "place this many more demo orders of each product at this start, with new loan numbers")
	f.duration(&webhookRetry, "webhook-retry-interval", "", 2*time.Second, "sandbox webhook retry interval (ICE uses 20s)")
	recheckInterval(f, &recheck)
	httpf.register(f, "")
	logs.register(f, "text")
	if err := f.parse(args); err != nil {
		return err
	}
	if _, err := txEngine(recheck); err != nil {
		return err
	}
	limits, err := httpf.limits()
	if err != nil {
		return err
	}
	if demoOrders < 0 {
		return usageErr("--demo-orders %d: must not be negative", demoOrders)
	}
	if err := devserver.ValidateDBPath(db); err != nil {
		return usageErr("--db: %v", err)
	}
	if token == "" && !loopbackAddr(apiListen) {
		return usageErr("--api-listen %s is reachable from other machines: set --operator-token (or EPCFLOW_OPERATOR_TOKEN) to guard the operator endpoints", apiListen)
	}
	log, err := logs.logger(e.stderr)
	if err != nil {
		return err
	}
	words, err := loadVocabulary(vocabPath, log)
	if err != nil {
		return err
	}
	if uiPort < 0 {
		uiPort = devserver.NoUI
	}
	if db == "" {
		db = filepath.Join(dataDir, "temporal.db")
	}
	keys, keyFile, err := devCodecKeys(encrypt, codecKeys, dataDir, db, log)
	if err != nil {
		return err
	}
	portalSecret, err := devPortalSecret(portalSecretFlag, dataDir, db)
	if err != nil {
		return err
	}
	tr, err := startTracing(ctx, e, "epcflow", log)
	if err != nil {
		return err
	}
	defer tr.stop()
	fmt.Fprintln(e.stdout, "epcflow dev: starting (the first start creates the database)…")
	st, err := stack.Start(ctx, stack.Config{
		DataDir: dataDir, DBPath: db, TemporalPort: temporalPort, UIPort: uiPort, PortalSecret: portalSecret,
		APIListen: apiListen, SandboxListen: sbListen, OperatorToken: token, Logger: log, CodecKeys: keys,
		Sandbox: sandbox.Config{WebhookRetryInterval: webhookRetry, Vocabulary: words}, RecheckInterval: recheck, HTTP: limits,
		RecordLocation: true, Tracer: tr.provider(),
	})
	if err != nil {
		return err
	}
	defer st.Close()

	d := &devDemo{
		e: e, out: e.stdout, dataDir: dataDir, keep: db != devserver.MemoryDB, first: demoOn, more: demoOrders,
		apiURL: st.APIURL, sbURL: st.SandboxURL, consoleURL: st.APIURL + "/console/", token: token, log: log,
		tokenNotExported: token != "" && e.getenv("EPCFLOW_OPERATOR_TOKEN") == "",
	}
	d.printf("%s", devBanner(e, st, db, dataDir, keys, keyFile, d.tokenNotExported))
	if demoOn || demoOrders > 0 {
		go d.run(ctx)
	}
	<-ctx.Done()
	d.printf("\nepcflow dev: shutting down\n")
	return nil
}

// devBanner says where each part listens and what to run next, in commands that work as
// printed.
func devBanner(e *env, st *stack.Stack, db, dataDir string, keys *codec.Keyring, keyFile string, tokenNotExported bool) string {
	var b strings.Builder
	w := &b
	fmt.Fprintln(w, "\nepcflow dev is running:")
	fmt.Fprintf(w, "  Temporal frontend  %s (namespace %s)\n", st.Server.FrontendAddress(), st.Server.Namespace())
	if u := st.Server.UIURL(); u != "" {
		fmt.Fprintf(w, "  Temporal Web UI    %s/namespaces/%s/workflows\n", u, st.Server.Namespace())
	}
	fmt.Fprintf(w, "  epcflow API        %s   (webhooks: POST %s/webhooks/epc, state: GET %s/v1/transactions/{id})\n", st.APIURL, st.APIURL, st.APIURL)
	fmt.Fprintf(w, "  operator console   %s/console/\n", st.APIURL)
	fmt.Fprintf(w, "  metrics            %s/metrics\n", st.APIURL)
	fmt.Fprintf(w, "  EPC sandbox        %s   (lender control API under %s/sandbox/epc)\n", st.SandboxURL, st.SandboxURL)
	fmt.Fprintf(w, "  database           %s\n", devserver.RedactDBPath(db))
	switch {
	case keys == nil:
		fmt.Fprintln(w, "  payloads           in clear (--encrypt-payloads=false)")
	default:
		fmt.Fprintf(w, "  payloads           encrypted, key %s (%s); codec server for the UI and CLI: %s/codec\n", keys.PrimaryID(), keyFile, st.APIURL)
	}
	fmt.Fprintf(w, "  where they listen  %s (read by `start`)\n", filepath.Join(dataDir, stack.LocationFile))
	fmt.Fprintf(w, "\nPlace an order:  %s\n", e.command(dataDir, "start", "order", "--type", "FloodCertification"))
	if tokenNotExported {
		fmt.Fprintln(w, "(`start`'s operator actions need EPCFLOW_OPERATOR_TOKEN exported in their shell: the API wants the operator token)")
	}
	fmt.Fprintln(w, "Stop with Ctrl-C; in-flight orders carry on at the next start.")
	return b.String()
}

// demoOperator is the demo's simulated appraiser, named as such in what it does.
func demoOperator(apiURL, token string) *demo.Operator {
	op := demo.NewOperator(apiURL, token)
	op.Actor = "Demo appraiser (simulated)"
	return op
}

// devCodecKeys picks the payload keys of `epcflow dev`: those configured, else the local key
// file (created at the first start), else, for an in-memory database, a key that dies with the
// process like the histories it protects. where says which, for the banner.
func devCodecKeys(encrypt bool, configured codecKeysFlag, dataDir, db string, log *slog.Logger) (k *codec.Keyring, where string, err error) {
	switch {
	case !encrypt:
		log.Warn("payload encryption is OFF (--encrypt-payloads=false): payloads are stored in clear")
		return nil, "", nil
	case configured.keys != "":
		k, err = configured.keyring(log)
		return k, "from --codec-keys", err
	case db == devserver.MemoryDB:
		return codec.Ephemeral(), "in memory, like the database", nil
	}
	path := filepath.Join(dataDir, "codec-keys")
	k, err = codec.LoadOrCreateKeyFile(path)
	if err != nil {
		return nil, "", err
	}
	return k, path, nil
}

// devPortalSecret picks the portal secret of `epcflow dev`: the one configured, else the one
// kept in the data directory (created 0600 at the first start, so invitation links survive a
// restart), else, for an in-memory database, none: the stack makes one that dies with it.
func devPortalSecret(configured, dataDir, db string) (*portal.Secret, error) {
	switch {
	case configured != "":
		s, err := portal.ParseSecret(configured)
		if err != nil {
			return nil, usageErr("--portal-secret (EPCFLOW_PORTAL_SECRET): %v", err)
		}
		return s, nil
	case db == devserver.MemoryDB:
		return nil, nil
	}
	return portal.LoadOrCreateSecretFile(filepath.Join(dataDir, "portal-secret"))
}

// temporalDB registers a Temporal database flag (a SQLite path, ":memory:" or a PostgreSQL
// URL) whose value -h shows with any password redacted; envVar, when named, gives the default.
func (f *flags) temporalDB(p *string, name, envVar, def, usage string) {
	*p = def
	f.Var(dbValue{p}, name, envUsage(usage, envVar, "prefer it for a URL with a password: command lines are visible to other users"))
	f.fromEnv(name, envVar)
}

// dbValue is a flag.Value that never shows a database password.
type dbValue struct{ p *string }

func (v dbValue) String() string {
	if v.p == nil {
		return ""
	}
	return devserver.RedactDBPath(*v.p)
}

func (v dbValue) Set(s string) error {
	*v.p = s
	return nil
}

// loopbackAddr reports whether a listen address (host:port) only accepts local connections:
// an empty host or 0.0.0.0 listens on every interface.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
