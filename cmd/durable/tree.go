package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/durable-go/durable/storage"
)

// treeView shows the workflows' executions as they progress: a live tree
// redrawn in place on a terminal, or one line per status change otherwise.
type treeView struct {
	store storage.Store
	flows []workflow
	w     io.Writer
	live  bool

	mu     sync.Mutex
	last   [][]node                  // the last frame's executions, by workflow
	lines  int                       // lines of the last live frame
	seen   map[string]storage.Status // plain mode: last status printed
	stopCh chan struct{}
	once   sync.Once
}

func newTreeView(store storage.Store, flows []workflow, w io.Writer, live bool) *treeView {
	return &treeView{store: store, flows: flows, w: w, live: live,
		seen: map[string]storage.Status{}, stopCh: make(chan struct{})}
}

func (v *treeView) stop() { v.once.Do(func() { close(v.stopCh) }) }

// follow renders every 150ms until stopped.
func (v *treeView) follow(ctx context.Context) {
	t := time.NewTicker(150 * time.Millisecond)
	defer t.Stop()
	for {
		v.render(ctx)
		select {
		case <-t.C:
		case <-v.stopCh:
			return
		case <-ctx.Done():
			return
		}
	}
}

// node is one execution in the tree, with its depth.
type node struct {
	row   storage.Execution
	depth int
}

func (v *treeView) render(ctx context.Context) {
	var nodes [][]node
	for _, fl := range v.flows {
		ns, err := v.walk(ctx, fl.id, 0)
		if err != nil {
			return // a read failed (interrupted); keep the last frame
		}
		nodes = append(nodes, ns)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.last = nodes
	if v.live {
		v.drawFrame(nodes)
	} else {
		v.printChanges(nodes)
	}
}

func (v *treeView) walk(ctx context.Context, id string, depth int) ([]node, error) {
	row, err := v.store.Get(ctx, storage.GetParams{ID: id})
	if err != nil {
		return nil, err
	}
	out := []node{{row, depth}}
	if row.ChildrenTotal == 0 {
		return out, nil
	}
	children, err := v.store.ListChildren(ctx, storage.ListChildrenParams{ParentID: id})
	if err != nil {
		return nil, err
	}
	for _, c := range children {
		sub, err := v.walk(ctx, c.ID, depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, sub...)
	}
	return out, nil
}

// liveWidth is the most characters a live frame's line takes, so that no
// line wraps on a terminal 80 columns wide (a wrapped line would break the
// redrawing in place).
const liveWidth = 79

func (v *treeView) drawFrame(flows [][]node) {
	var b strings.Builder
	if v.lines > 0 {
		fmt.Fprintf(&b, "\x1b[%dA\x1b[J", v.lines) // back to the frame's top, clear below
	}
	lines := 0
	for i, ns := range flows {
		fmt.Fprintf(&b, "\x1b[1m%s\x1b[0m  %s\n", v.flows[i].name, v.flows[i].id)
		lines++
		for _, n := range ns {
			indent := 2 + 2*n.depth
			fmt.Fprintf(&b, "%s%s\n", strings.Repeat(" ", indent), describe(n.row, true, liveWidth-indent))
			lines++
		}
	}
	if fails := failures(flows); len(fails) > 0 {
		fmt.Fprintf(&b, "\x1b[1mwhy attempts failed\x1b[0m\n")
		lines++
		for _, f := range fails {
			fmt.Fprintf(&b, "  %s\n", clip(f.short(), liveWidth-2))
			lines++
		}
	}
	v.lines = lines
	io.WriteString(v.w, b.String())
}

func (v *treeView) printChanges(flows [][]node) {
	for _, ns := range flows {
		for _, n := range ns {
			if v.seen[n.row.ID] == n.row.Status {
				continue
			}
			v.seen[n.row.ID] = n.row.Status
			fmt.Fprintf(v.w, "%s  %s%s  (%s)\n", time.Now().Format("15:04:05.000"), strings.Repeat("  ", n.depth),
				describe(n.row, false, 0), n.row.ID)
		}
	}
}

// describe is one execution's line: task, status, timing, attempts, and,
// unless width is set, why its last attempt failed; cut to width
// characters unless width is 0.
func describe(r storage.Execution, color bool, width int) string {
	var extra []string
	if d := elapsed(r); d > 0 {
		extra = append(extra, d.Round(10*time.Millisecond).String())
	}
	if r.Attempt > 0 {
		extra = append(extra, fmt.Sprintf("attempt %d", r.Attempt+1))
	}
	if r.Iteration > 0 {
		extra = append(extra, fmt.Sprintf("iteration %d", r.Iteration+1))
	}
	if r.SleepKey != "" && !r.Status.Terminal() {
		extra = append(extra, "waiting for webhook "+r.SleepKey)
	}
	if f, ok := lastFailure(r); ok && width == 0 { // a live frame lists failures below the tree
		extra = append(extra, fmt.Sprintf("attempt %d failed: %s", f.Attempt+1, f.Error.Message))
	}
	prefix, rest := fmt.Sprintf("%-18s ", r.TaskID), strings.Join(extra, ", ")
	if width > 0 {
		rest = clip(rest, max(width-len(prefix)-23, 10))
	}
	status := fmt.Sprintf("%-22s", r.Status)
	if color {
		status = colorize(r.Status)
	}
	return strings.TrimRight(prefix+status+" "+rest, " ")
}

// lastFailure is the latest failed attempt of r, if it has one.
func lastFailure(r storage.Execution) (storage.Attempt, bool) {
	for i := len(r.Attempts) - 1; i >= 0; i-- {
		if a := r.Attempts[i]; a.Error != nil {
			return a, true
		}
	}
	return storage.Attempt{}, false
}

// failure is one failed attempt of an execution.
type failure struct {
	taskID, id string
	attempt    storage.Attempt
}

func (f failure) short() string {
	return fmt.Sprintf("%s attempt %d: %s", f.taskID, f.attempt.Attempt+1, f.attempt.Error.Message)
}

// failures lists every failed attempt of the workflows' executions.
func failures(flows [][]node) []failure {
	var out []failure
	for _, ns := range flows {
		for _, n := range ns {
			for _, a := range n.row.Attempts {
				if a.Error != nil {
					out = append(out, failure{n.row.TaskID, n.row.ID, a})
				}
			}
		}
	}
	return out
}

// clip cuts s to n characters, ending it with an ellipsis when cut.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func elapsed(r storage.Execution) time.Duration {
	switch {
	case r.StartedAt.IsZero():
		return 0
	case r.Status.Terminal() && !r.FinishedAt.IsZero():
		return r.FinishedAt.Sub(r.StartedAt)
	default:
		return time.Since(r.StartedAt)
	}
}

func colorize(s storage.Status) string {
	code := "33" // yellow: active
	switch {
	case s == storage.StatusCompleted:
		code = "32"
	case s.Terminal():
		code = "31"
	case s == storage.StatusReady:
		code = "90"
	}
	return fmt.Sprintf("\x1b[%sm%-22s\x1b[0m", code, s)
}
