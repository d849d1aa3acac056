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

func (v *treeView) drawFrame(flows [][]node) {
	var b strings.Builder
	if v.lines > 0 {
		fmt.Fprintf(&b, "\x1b[%dA\x1b[J", v.lines) // back to the frame's top, clear below
	}
	lines := 0
	for i, ns := range flows {
		fmt.Fprintf(&b, "\x1b[1m%s\x1b[0m\n", v.flows[i].name)
		lines++
		for _, n := range ns {
			fmt.Fprintf(&b, "  %s%s\n", strings.Repeat("  ", n.depth), describe(n.row, true))
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
			fmt.Fprintf(v.w, "%s  %s%s\n", time.Now().Format("15:04:05.000"), strings.Repeat("  ", n.depth), describe(n.row, false))
		}
	}
}

// describe is one execution's line: task, status, timing and attempts.
func describe(r storage.Execution, color bool) string {
	status := string(r.Status)
	if color {
		status = colorize(r.Status)
	}
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
	line := fmt.Sprintf("%-18s %-22s %s", r.TaskID, status, strings.Join(extra, ", "))
	return strings.TrimRight(line, " ")
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
	return fmt.Sprintf("\x1b[%sm%-20s\x1b[0m", code, s)
}
