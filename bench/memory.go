package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
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

// childWorker is `epcflow worker` running as a child process against the embedded server, so
// that its memory can be read apart from the server's, the API's and the sandbox's.
type childWorker struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // the process's exit, once done is closed
}

// childWorkerConfig says how to start the child and what it connects to.
type childWorkerConfig struct {
	command                   []string // argv prefix running the epcflow binary
	env                       []string // added to the environment
	frontend, namespace       string
	sandboxURL, blobDir       string
	codecKeys                 string // formatted keyring, "" for payloads in clear
	logLevel                  string
	stderr                    io.Writer
	readyTimeout, stopTimeout time.Duration
}

func startChildWorker(ctx context.Context, c client.Client, cfg childWorkerConfig) (*childWorker, error) {
	if len(cfg.command) == 0 {
		return nil, errors.New("bench: no worker command")
	}
	args := append(append([]string(nil), cfg.command[1:]...), "worker",
		"--temporal-address", cfg.frontend, "--temporal-namespace", cfg.namespace,
		"--epc-base-url", cfg.sandboxURL, "--epc-client-id", sandbox.DefaultClientID,
		"--blob-dir", cfg.blobDir, "--metrics-listen", "",
		"--log-format", "text", "--log-level", cfg.logLevel)
	cmd := exec.Command(cfg.command[0], args...)
	// Secrets go through the environment, never the command line (visible to other users).
	cmd.Env = append(os.Environ(), "EPC_CLIENT_SECRET="+sandbox.DefaultClientSecret, "EPCFLOW_CODEC_KEYS="+cfg.codecKeys)
	cmd.Env = append(cmd.Env, cfg.env...)
	cmd.Stdout, cmd.Stderr = cfg.stderr, cfg.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start worker process: %w", err)
	}
	w := &childWorker{cmd: cmd, done: make(chan struct{})}
	go func() {
		w.err = cmd.Wait()
		close(w.done)
	}()
	if err := w.awaitPolling(ctx, c, cfg.readyTimeout); err != nil {
		_ = w.stop(cfg.stopTimeout)
		return nil, err
	}
	return w, nil
}

// awaitPolling waits until the worker polls both the workflow and the activity task queue,
// so the first measured order does not wait for the process to start.
func (w *childWorker) awaitPolling(ctx context.Context, c client.Client, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ready := true
		for _, typ := range []enumspb.TaskQueueType{enumspb.TASK_QUEUE_TYPE_WORKFLOW, enumspb.TASK_QUEUE_TYPE_ACTIVITY} {
			resp, err := c.DescribeTaskQueue(ctx, workflows.TaskQueue, typ)
			if err != nil || len(resp.GetPollers()) == 0 {
				ready = false
			}
		}
		if ready {
			return nil
		}
		select {
		case <-w.done:
			return fmt.Errorf("worker process exited before polling: %v", w.err)
		case <-ctx.Done():
			return fmt.Errorf("worker process not polling after %s: %w", timeout, ctx.Err())
		case <-tick.C:
		}
	}
}

func (w *childWorker) pid() int { return w.cmd.Process.Pid }

// stop asks the worker to stop (SIGTERM: it finishes what it is doing) and kills it if it is
// still running after timeout.
func (w *childWorker) stop(timeout time.Duration) error {
	select {
	case <-w.done:
		return nil
	default:
	}
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-w.done:
		return nil
	case <-t.C:
		_ = w.cmd.Process.Kill()
		<-w.done
		return fmt.Errorf("worker process did not stop within %s: killed", timeout)
	}
}

// Memory is a process's resident set, from /proc/<pid>/status.
type Memory struct {
	// Process says whose memory this is.
	Process string `json:"process"`
	PID     int    `json:"pid"`
	// RSSBytes is VmRSS (resident now), PeakRSSBytes VmHWM (the high-water mark).
	RSSBytes     int64 `json:"rssBytes"`
	PeakRSSBytes int64 `json:"peakRssBytes"`
}

// MB is RSS in mebibytes, for tables.
func (m Memory) MB() float64 { return round2(float64(m.RSSBytes) / (1 << 20)) }

// readMemory reads VmRSS and VmHWM of pid (Linux only).
func readMemory(pid int, process string) (Memory, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return Memory{}, fmt.Errorf("read memory of pid %d: %w", pid, err)
	}
	defer f.Close()
	m := Memory{Process: process, PID: pid}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch key {
		case "VmRSS":
			dst = &m.RSSBytes
		case "VmHWM":
			dst = &m.PeakRSSBytes
		default:
			continue
		}
		fields := strings.Fields(val) // "123456 kB"
		if len(fields) != 2 || fields[1] != "kB" {
			return m, fmt.Errorf("read memory of pid %d: unexpected %s line %q", pid, key, sc.Text())
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("read memory of pid %d: %s: %w", pid, key, err)
		}
		*dst = kb << 10
	}
	if err := sc.Err(); err != nil {
		return m, fmt.Errorf("read memory of pid %d: %w", pid, err)
	}
	if m.RSSBytes == 0 {
		return m, fmt.Errorf("read memory of pid %d: no VmRSS", pid)
	}
	return m, nil
}
