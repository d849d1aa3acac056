package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// recoveryJobSleep is how long a recovery job's body sleeps between its
// "S i" and "E i" log lines.
const recoveryJobSleep = 50 * time.Millisecond

// latencyWarmup is the number of unmeasured rounds before the latency rounds.
const latencyWarmup = 10

// roundTimeout bounds one latency round and one fanout.
const roundTimeout = 60 * time.Second

// jobArgs are the arguments of every benchmark job: {"i":n}.
type jobArgs struct {
	I int `json:"i"`
}

// startRecorder records when each job body (identified by its i) started, so
// that the latency workload can compute pickup times. It is safe for
// concurrent use; a nil *startRecorder records nothing.
type startRecorder struct {
	mu     sync.Mutex
	starts map[int]time.Time
}

func newStartRecorder() *startRecorder {
	return &startRecorder{starts: make(map[int]time.Time)}
}

// mark records now as the start of job i (the first start wins).
func (r *startRecorder) mark(i int) {
	if r == nil {
		return
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.starts[i]; !ok {
		r.starts[i] = now
	}
}

// get returns the recorded start of job i.
func (r *startRecorder) get(i int) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.starts[i]
	return t, ok
}

// appendLog is the recovery workload's append-only log of "S i" and "E i"
// lines, shared by the worker processes. Each line is one write(2) on a file
// opened with O_APPEND, so lines from concurrent jobs never interleave.
type appendLog struct {
	f *os.File
}

// openAppendLog opens (creating if needed) the log at path for appending.
func openAppendLog(path string) (*appendLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open recovery log: %w", err)
	}
	return &appendLog{f: f}, nil
}

// line appends "<kind> <i>\n" in a single write.
func (l *appendLog) line(kind byte, i int) error {
	b := make([]byte, 0, 16)
	b = append(b, kind, ' ')
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, '\n')
	if _, err := l.f.Write(b); err != nil {
		return fmt.Errorf("append to recovery log: %w", err)
	}
	return nil
}

func (l *appendLog) close() error { return l.f.Close() }

// runRecoveryJob is the body of a recovery job: log "S i", sleep, log "E i".
// It returns ctx's error without the "E" line when ctx ends first.
func runRecoveryJob(ctx context.Context, log *appendLog, i int) error {
	if err := log.line('S', i); err != nil {
		return err
	}
	t := time.NewTimer(recoveryJobSleep)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	return log.line('E', i)
}

// logCounts is what a recovery log says: how many times each job ended.
type logCounts struct {
	ends       map[int]int // i -> number of "E i" lines
	totalEnded int         // number of "E" lines
}

// readLogCounts parses the recovery log at path. A final line without its
// newline (a write in progress) is ignored.
func readLogCounts(path string) (logCounts, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return logCounts{}, fmt.Errorf("read recovery log: %w", err)
	}
	c := logCounts{ends: make(map[int]int)}
	text := string(b)
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		text = text[:i]
	} else {
		text = ""
	}
	for _, line := range strings.Split(text, "\n") {
		kind, num, ok := strings.Cut(line, " ")
		if !ok || kind != "E" {
			continue
		}
		i, err := strconv.Atoi(num)
		if err != nil {
			return logCounts{}, fmt.Errorf("recovery log: bad line %q", line)
		}
		c.ends[i]++
		c.totalEnded++
	}
	return c, nil
}

// executedTwice returns the number of jobs with more than one "E" line.
func (c logCounts) executedTwice() int {
	n := 0
	for _, k := range c.ends {
		if k > 1 {
			n++
		}
	}
	return n
}
