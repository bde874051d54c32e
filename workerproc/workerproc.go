// Package workerproc runs `epcflow worker` as a child process: the benchmark runs its worker
// apart to measure its memory, and the chaos suite runs several to SIGKILL them.
package workerproc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/epcflow/epcflow/sandbox"
	"github.com/epcflow/epcflow/workflows"
)

// Config says how to start the child and what it connects to.
type Config struct {
	// Command is the argv prefix that runs the epcflow binary (e.g. {"/usr/bin/epcflow"}, or a
	// test binary that acts as epcflow when Env says so).
	Command []string
	// Env is added to the child's environment.
	Env []string
	// Frontend and Namespace locate Temporal.
	Frontend, Namespace string
	// SandboxURL is the EPC base URL (the sandbox); BlobDir the shared blob store.
	SandboxURL, BlobDir string
	// CodecKeys is the formatted keyring ("" for payloads in clear). It goes through the
	// environment, never the command line, where other users could read it.
	CodecKeys string
	// InbankAPIKey, when set, has the worker run payment sessions against Inbank at SandboxURL
	// (through the environment, like CodecKeys).
	InbankAPIKey string
	// MetricsListen is the worker's /metrics address ("" for none).
	MetricsListen string
	// RecheckInterval is the worker's --recheck-interval (zero: its default).
	RecheckInterval time.Duration
	// LogLevel of the worker (default "warn"); its logs go to Stderr (nil: discarded).
	LogLevel string
	Stderr   io.Writer
	// ReadyTimeout bounds the wait for the new process to poll (default 1 min).
	ReadyTimeout time.Duration
}

// Process is a running worker process.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // the process's exit, once done is closed
}

// Start starts the worker and returns once it polls both the workflow and the activity task
// queue, as seen by Temporal through c.
func Start(ctx context.Context, c client.Client, cfg Config) (*Process, error) {
	if len(cfg.Command) == 0 {
		return nil, errors.New("worker process: no command")
	}
	if cfg.LogLevel == "" {
		cfg.LogLevel = "warn"
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = time.Minute
	}
	args := append(append([]string(nil), cfg.Command[1:]...), "worker",
		"--temporal-address", cfg.Frontend, "--temporal-namespace", cfg.Namespace,
		"--epc-base-url", cfg.SandboxURL, "--epc-client-id", sandbox.DefaultClientID,
		"--blob-dir", cfg.BlobDir, "--metrics-listen", cfg.MetricsListen, "--inbank-base-url", cfg.SandboxURL,
		"--log-format", "text", "--log-level", cfg.LogLevel,
		"--sandbox-secrets") // it plays against the sandbox, with the sandbox's public secrets
	if cfg.RecheckInterval > 0 {
		args = append(args, "--recheck-interval", cfg.RecheckInterval.String())
	}
	cmd := exec.Command(cfg.Command[0], args...)
	cmd.Env = append(os.Environ(), "EPC_CLIENT_SECRET="+sandbox.DefaultClientSecret, "EPCFLOW_CODEC_KEYS="+cfg.CodecKeys, "INBANK_API_KEY="+cfg.InbankAPIKey)
	cmd.Env = append(cmd.Env, cfg.Env...)
	if cfg.Stderr != nil {
		cmd.Stdout, cmd.Stderr = cfg.Stderr, cfg.Stderr
	}
	p, err := StartCommand(cmd)
	if err != nil {
		return nil, fmt.Errorf("start worker process: %w", err)
	}
	if err := p.awaitPolling(ctx, c, cfg.MetricsListen, cfg.ReadyTimeout); err != nil {
		_ = p.Kill()
		return nil, err
	}
	return p, nil
}

// StartCommand starts any child process (the drill runs its Temporal server and API
// replicas so) as a Process to stop or kill; readiness is the caller's to wait for.
func StartCommand(cmd *exec.Cmd) (*Process, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// awaitPolling waits until this process polls both task queues. Pollers are told apart by
// the SDK's default identity, "<pid>@<host>…", since other workers may poll too. Temporal
// describes the pollers of a task queue's root partition only, where a new worker's polls may
// take a while to land; its own /metrics (when it serves them) show its polls at once.
func (p *Process) awaitPolling(ctx context.Context, c client.Client, metricsAddr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	prefix := strconv.Itoa(p.PID()) + "@"
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ready := true
		for _, typ := range []enumspb.TaskQueueType{enumspb.TASK_QUEUE_TYPE_WORKFLOW, enumspb.TASK_QUEUE_TYPE_ACTIVITY} {
			resp, err := c.DescribeTaskQueue(ctx, workflows.TaskQueue, typ)
			found := false
			for _, pl := range resp.GetPollers() {
				found = found || strings.HasPrefix(pl.GetIdentity(), prefix)
			}
			ready = ready && err == nil && found
		}
		if ready || (metricsAddr != "" && pollsInFlight(ctx, "http://"+metricsAddr+"/metrics")) {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("worker process exited before polling: %v", p.err)
		case <-ctx.Done():
			return fmt.Errorf("worker process not polling after %s: %w", timeout, ctx.Err())
		case <-tick.C:
		}
	}
}

// PID is the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Stop asks the process to stop (SIGTERM: a worker finishes what it is doing) and kills it if it is
// still running after timeout.
func (p *Process) Stop(timeout time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
		_ = p.Kill()
		return fmt.Errorf("process %d did not stop within %s: killed", p.PID(), timeout)
	}
}

// Kill sends SIGKILL, the crash no code can react to, and waits for the process to be gone.
func (p *Process) Kill() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill process %d: %w", p.PID(), err)
	}
	<-p.done
	return nil
}

// pollsInFlight reports whether the worker's /metrics show polls of both the workflow and the
// activity task queue in flight (the SDK's temporal_num_pollers gauge).
func pollsInFlight(ctx context.Context, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	polling := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "temporal_num_pollers{") || strings.HasSuffix(line, " 0") {
			continue
		}
		for _, typ := range []string{"workflow_task", "activity_task"} {
			polling[typ] = polling[typ] || strings.Contains(line, `poller_type="`+typ+`"`)
		}
	}
	return polling["workflow_task"] && polling["activity_task"]
}
