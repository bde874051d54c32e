package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every Linux build Go
// supports (reading sysconf(_SC_CLK_TCK) would need cgo).
const clockTicks = 100

// CPU is the processor time a phase used. On a machine shared with other work, wall-clock
// throughput moves with the neighbours' load; CPU time per order moves much less, so it is
// the steadier way to compare the two phases.
type CPU struct {
	// BenchProcessMs is this process: Temporal server, API, sandbox, the load generator, and
	// the worker when it runs in process.
	BenchProcessMs float64 `json:"benchProcessMs"`
	// WorkerProcessMs is the child worker's (0 when the worker runs in process).
	WorkerProcessMs float64 `json:"workerProcessMs"`
	PerOrderMs      float64 `json:"perOrderMs"`
}

// cpuMeter measures the CPU time of this process and, if any, the child worker.
type cpuMeter struct {
	worker      int // pid, 0 for none
	self, child time.Duration
}

func (r *runner) startCPU() (*cpuMeter, error) {
	m := &cpuMeter{}
	if r.worker != nil {
		m.worker = r.worker.PID()
	}
	var err error
	if m.self, m.child, err = m.read(); err != nil {
		return nil, err
	}
	return m, nil
}

// since returns the CPU time used since the meter started, spread over n orders.
func (m *cpuMeter) since(n int) (CPU, error) {
	self, child, err := m.read()
	if err != nil {
		return CPU{}, err
	}
	c := CPU{BenchProcessMs: ms(self - m.self), WorkerProcessMs: ms(child - m.child)}
	if n > 0 {
		c.PerOrderMs = round2((c.BenchProcessMs + c.WorkerProcessMs) / float64(n))
	}
	return c, nil
}

func (m *cpuMeter) read() (self, child time.Duration, err error) {
	if self, err = processCPU(os.Getpid()); err != nil {
		return 0, 0, err
	}
	if m.worker != 0 {
		if child, err = processCPU(m.worker); err != nil {
			return 0, 0, err
		}
	}
	return self, child, nil
}

// processCPU is the user + system time pid has used, from /proc/<pid>/stat.
func processCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("read CPU time of pid %d: %w", pid, err)
	}
	// The command name (field 2) is in parentheses and may hold spaces: count from after it.
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("read CPU time of pid %d: unexpected stat %q", pid, s)
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state); utime is field 14, stime 15
	if len(f) < 13 {
		return 0, fmt.Errorf("read CPU time of pid %d: stat has %d fields", pid, len(f)+2)
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read CPU time of pid %d: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}
