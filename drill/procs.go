package drill

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/epcflow/epcflow/internal/wait"

	"github.com/jackc/pgx/v5"

	"github.com/epcflow/epcflow/devserver"
	"github.com/epcflow/epcflow/sandbox"
	"github.com/epcflow/epcflow/workerproc"
)

// buildBinaries builds the lean production binary the API and worker processes run, and the
// upgraded one the workers are replaced by (the same with -tags drillupgrade), into dir.
func buildBinaries(ctx context.Context, src, dir string) (old, upgraded string, err error) {
	old, upgraded = filepath.Join(dir, "epcflow"), filepath.Join(dir, "epcflow-upgraded")
	for _, b := range []struct{ out, tags string }{{old, "production"}, {upgraded, "production,drillupgrade"}} {
		cmd := exec.CommandContext(ctx, "go", "build", "-tags", b.tags, "-o", b.out, ".")
		cmd.Dir = src
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("go build -tags %s in %s: %w\n%s", b.tags, src, err, out)
		}
	}
	return old, upgraded, nil
}

// moduleRoot finds the directory of epcflow's go.mod from dir upwards.
func moduleRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module github.com/epcflow/epcflow\n")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no epcflow source tree (go.mod) at or above %s: the drill builds its worker binaries from it; run it in the repository or give --source", dir)
		}
	}
}

// databases are the run's PostgreSQL databases: Temporal's (and its _visibility) and the API
// replicas' shared one (portal users, delivered webhooks).
type databases struct {
	name             string // of Temporal's
	temporal, shared string // URLs
}

// createDatabases names a fresh set on the server at base (postgres://user@host:port) and
// creates the shared one; the Temporal process creates its own.
func createDatabases(ctx context.Context, base string) (databases, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return databases{}, fmt.Errorf("postgres %q: want postgres://user@host:port", devserver.RedactDBPath(base))
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	name := fmt.Sprintf("epcflow_drill_%d_%s", time.Now().Unix(), hex.EncodeToString(suffix))
	at := func(db string) string {
		v := *u
		v.Path = "/" + db
		v.RawQuery = "sslmode=disable"
		return v.String()
	}
	d := databases{name: name, temporal: at(name), shared: at(name + "_shared")}
	conn, err := pgx.Connect(ctx, at("postgres"))
	if err != nil {
		return d, fmt.Errorf("postgres at %s: %w", u.Host, err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name + "_shared"}.Sanitize()); err != nil {
		return d, fmt.Errorf("create database %s_shared: %w", name, err)
	}
	return d, nil
}

// drop drops every database of the run (a missing one is no error).
func (d databases) drop(ctx context.Context) error {
	var errs []error
	for _, db := range []string{d.temporal, d.shared} {
		if db != "" {
			errs = append(errs, devserver.DropPostgres(ctx, db))
		}
	}
	return errors.Join(errs...)
}

// temporalProc runs `epcflow temporal` on the run's database, on a fixed port so that
// every client finds it again after a restart.
type temporalProc struct {
	command, env []string
	db           string
	port         int
	logs         io.Writer
	proc         *workerproc.Process
}

func (t *temporalProc) addr() string { return "127.0.0.1:" + strconv.Itoa(t.port) }

// start starts the process and waits for its ready line.
func (t *temporalProc) start(ctx context.Context) error {
	args := append(append([]string(nil), t.command[1:]...), "temporal", "--db", t.db, "--port", strconv.Itoa(t.port))
	cmd := exec.Command(t.command[0], args...)
	cmd.Env = append(os.Environ(), t.env...)
	ready := &lineWatch{want: "temporal: serving ", next: t.logs, seen: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = ready, orDiscard(t.logs)
	p, err := workerproc.StartCommand(cmd)
	if err != nil {
		return fmt.Errorf("start temporal process: %w", err)
	}
	timeout := time.NewTimer(3 * time.Minute) // a fresh database's schema is set up first
	defer timeout.Stop()
	select {
	case <-ready.seen:
		t.proc = p
		return nil
	case <-p.Done():
		return errors.New("temporal process exited before serving (see its logs: --logs)")
	case <-timeout.C:
		_ = p.Kill()
		return errors.New("temporal process not serving after 3m")
	case <-ctx.Done():
		_ = p.Kill()
		return ctx.Err()
	}
}

// apiProc runs one `epcflow api` replica.
type apiProc struct {
	n         int
	bin       string
	env, args []string
	port      int
	logs      io.Writer
	proc      *workerproc.Process
}

func (a *apiProc) url() string { return "http://127.0.0.1:" + strconv.Itoa(a.port) }

// apiConfig is what every API replica shares.
type apiConfig struct {
	temporal, sandboxURL, sharedDB, blobDir, codecKeys, token string
	portalSecret                                              string
}

func newAPI(n int, bin string, port int, c apiConfig, logs io.Writer) *apiProc {
	a := &apiProc{n: n, bin: bin, port: port, logs: logs}
	a.args = []string{"api", "--listen", "127.0.0.1:" + strconv.Itoa(port), "--public-url", a.url(),
		"--temporal-address", c.temporal, "--sandbox-secrets", "--pos-base-url", c.sandboxURL,
		"--portal-db", c.sharedDB, "--blob-dir", c.blobDir, "--allow-codec-without-token",
		"--log-format", "text", "--log-level", "warn"}
	// Secrets through the environment, never the command line.
	a.env = []string{"EPCFLOW_OPERATOR_TOKEN=" + c.token, "EPCFLOW_CODEC_KEYS=" + c.codecKeys, "EPCFLOW_PORTAL_SECRET=" + c.portalSecret,
		"POS_SIGNING_SECRET=" + sandbox.DefaultPOSSigningSecret, "INBANK_API_KEY=" + sandbox.DefaultInbankAPIKey}
	return a
}

// start starts the replica and waits until it answers /readyz (Temporal reachable).
func (a *apiProc) start(ctx context.Context) error {
	cmd := exec.Command(a.bin, a.args...)
	cmd.Env = append(os.Environ(), a.env...)
	cmd.Stdout, cmd.Stderr = orDiscard(a.logs), orDiscard(a.logs)
	p, err := workerproc.StartCommand(cmd)
	if err != nil {
		return fmt.Errorf("start api %d: %w", a.n, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		if resp, err := hc.Get(a.url() + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				a.proc = p
				return nil
			}
		}
		select {
		case <-p.Done():
			return fmt.Errorf("api %d exited before it was ready (see its logs: --logs)", a.n)
		case <-ctx.Done():
			_ = p.Kill()
			return fmt.Errorf("api %d not ready: %w", a.n, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// lineWatch passes a child's output on and closes seen at the first line starting with want.
type lineWatch struct {
	want string
	next io.Writer
	seen chan struct{}

	mu   sync.Mutex
	line []byte
	done bool
}

func (w *lineWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.next != nil {
		_, _ = w.next.Write(p)
	}
	for _, b := range p {
		if w.done {
			break
		}
		if b != '\n' {
			w.line = append(w.line, b)
			continue
		}
		if strings.HasPrefix(string(w.line), w.want) {
			w.done = true
			close(w.seen)
		}
		w.line = w.line[:0]
	}
	return len(p), nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

func randomSecret(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error { return wait.For(ctx, d) }
