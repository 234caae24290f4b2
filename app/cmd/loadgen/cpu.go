package main

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat: the kernel's USER_HZ, 100 on
// every Linux architecture Go supports (procfs libraries assume the same).
const userHZ = 100

// cpuTime is the user plus system CPU time process pid has used, read from
// /proc/<pid>/stat; ok is false where that cannot be read (no /proc, as on macOS, or the
// process is gone).
func cpuTime(pid int) (used time.Duration, ok bool) {
	if pid <= 0 {
		return 0, false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name, in parentheses, may contain spaces: fields are counted after it.
	// utime and stime are fields 14 and 15 of the line, so 12 and 13 after the name.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, false
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, false
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, true
}

// cpuMeter measures the CPU time a set of processes use between its creation and done.
type cpuMeter struct {
	pids  []int
	start time.Duration
	ok    bool
}

func startCPU(pids ...int) cpuMeter {
	m := cpuMeter{pids: pids}
	m.start, m.ok = sumCPU(pids)
	return m
}

// done returns the CPU time used since startCPU, or ok false when it is not measurable.
func (m cpuMeter) done() (time.Duration, bool) {
	end, ok := sumCPU(m.pids)
	if !m.ok || !ok {
		return 0, false
	}
	return end - m.start, true
}

func sumCPU(pids []int) (time.Duration, bool) {
	if len(pids) == 0 {
		return 0, false
	}
	var sum time.Duration
	for _, pid := range pids {
		t, ok := cpuTime(pid)
		if !ok {
			return 0, false
		}
		sum += t
	}
	return sum, true
}

// idleMeter measures the share of the machine's CPU time that went unused between its
// creation and done. Near zero, every process on the machine waited for CPU and a line's
// throughput is set by the CPU each request costs; well above zero, by latency (the
// statement in flight, fsyncs).
type idleMeter struct {
	idle, total int64
	ok          bool
}

func startIdle() idleMeter {
	var m idleMeter
	m.idle, m.total, m.ok = machineTicks()
	return m
}

// done returns the idle percentage since startIdle, NaN when it is not measurable.
func (m idleMeter) done() float64 {
	idle, total, ok := machineTicks()
	if !m.ok || !ok || total <= m.total {
		return math.NaN()
	}
	return 100 * float64(idle-m.idle) / float64(total-m.total)
}

// machineTicks reads the first line of /proc/stat, "cpu user nice system idle iowait irq
// softirq steal guest guest_nice": idle is idle plus iowait, total the first eight (guest
// time is already counted in user).
func machineTicks() (idle, total int64, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	return parseCPUStat(string(b))
}

func parseCPUStat(stat string) (idle, total int64, ok bool) {
	line, _, _ := strings.Cut(stat, "\n")
	fields := strings.Fields(line)
	if len(fields) < 9 || fields[0] != "cpu" {
		return 0, 0, false
	}
	for i, f := range fields[1:9] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		total += n
		if i == 3 || i == 4 {
			idle += n
		}
	}
	return idle, total, true
}
