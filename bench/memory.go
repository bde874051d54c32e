package bench

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

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
