//go:build unix

package dashboard

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user and system) the process has used:
// the benchmarks report it per page, which a busy shared machine changes
// less than wall time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
