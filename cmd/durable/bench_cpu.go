package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuMeter measures the CPU time spent during one phase of a workload: by
// this process (getrusage) and by the whole machine (/proc/stat, Linux
// only), so that a drain's figures say how much CPU a task costs here and
// in the database server beside it, which wall-clock rates alone hide on a
// shared host.
type cpuMeter struct {
	self    time.Duration
	machine time.Duration
	hasMach bool
	profile *os.File
}

// startCPU starts a meter; with a non-empty path it also writes a CPU
// profile of this process to path until stop.
func startCPU(profilePath string) (*cpuMeter, error) {
	m := &cpuMeter{self: processCPU()}
	m.machine, m.hasMach = machineCPU()
	if profilePath != "" {
		f, err := os.Create(profilePath)
		if err != nil {
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		m.profile = f
	}
	return m, nil
}

// stop ends the phase and records, per task of n, the microseconds of CPU
// this process and the machine used.
func (m *cpuMeter) stop(n int, r *Result) {
	m.stopProfile()
	r.DrainCPUUs = perTask(processCPU()-m.self, n)
	if mach, ok := machineCPU(); ok && m.hasMach {
		r.DrainMachineCPUUs = perTask(mach-m.machine, n)
	}
}

// stopProfile ends the CPU profile, if one is being written; later calls
// do nothing.
func (m *cpuMeter) stopProfile() {
	if m.profile != nil {
		pprof.StopCPUProfile()
		m.profile.Close()
		m.profile = nil
	}
}

func perTask(d time.Duration, n int) float64 {
	return float64(d.Microseconds()) / float64(n)
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineCPU is the busy time of all CPUs since boot (user, nice, system,
// irq, softirq), from /proc/stat. The second result is false where there
// is no /proc/stat.
func machineCPU() (time.Duration, bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, false
	}
	fields := strings.Fields(sc.Text())
	if len(fields) < 8 || fields[0] != "cpu" {
		return 0, false
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7} { // user nice system irq softirq
		v, err := strconv.ParseInt(fields[i], 10, 64)
		if err != nil {
			return 0, false
		}
		ticks += v
	}
	const clockTicks = 100 // USER_HZ, 100 on every Linux architecture Go supports
	return time.Duration(ticks) * time.Second / clockTicks, true
}
