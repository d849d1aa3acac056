package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage"
)

// The live feed. One hub per dashboard subscribes to the store's events
// and turns them into updates for every open page (server-sent events):
//
//   - status: executions that finished, with their new status (the store
//     names them; one List by id reads their statuses);
//   - rows: the newest executions, after any event (one List of the
//     newest), rendered once as the list's rows: an execution its own
//     executor claimed at insert is announced by no event until it
//     finishes;
//   - counts: the counts by task and status (one Count), rendered once as
//     the overview's table, at most every countsEvery intervals, and at
//     most a tenth of the time (countsCache).
//
// The hub runs at most one query per Config.LiveInterval whatever the
// number of viewers, and none while nobody watches: the load it adds to
// the store does not grow with the viewers. Events arriving meanwhile are
// merged (finished ids accumulate, readiness is a flag).

// countsEvery spaces the counts' refreshes: one interval in countsEvery.
const countsEvery = 5

// maxViewers bounds the open event streams of one dashboard.
const maxViewers = 1000

// maxStatusBatch is the most finished ids one status query reads.
const maxStatusBatch = storage.MaxListLimit

// recentRows is how many of the newest executions a rows update carries.
const recentRows = 20

type hub struct {
	ex       *durable.Executor
	pages    *pages
	counts   *countsCache
	interval time.Duration
	log      *slog.Logger

	mu       sync.Mutex
	viewers  map[*viewer]struct{}
	finished []string
	seen     map[string]bool // ids in finished
	ready    bool            // the newest rows may have changed
	dirty    bool            // an event came since the last counts
	turn     int
	stopped  bool

	kick    chan struct{}
	done    chan struct{}
	wg      sync.WaitGroup
	unsub   func()
	queries atomic.Int64 // the store queries the hub made
}

type viewer struct {
	ch     chan []byte
	missed atomic.Bool // a message was dropped: the viewer fell behind
}

func newHub(ex *durable.Executor, p *pages, counts *countsCache, interval time.Duration, log *slog.Logger) *hub {
	return &hub{ex: ex, pages: p, counts: counts, interval: interval, log: log, viewers: map[*viewer]struct{}{},
		seen: map[string]bool{}, kick: make(chan struct{}, 1), done: make(chan struct{})}
}

func (h *hub) start(src EventSource) {
	h.unsub = src.Subscribe(h.onEvent)
	h.wg.Add(1)
	go h.loop()
}

func (h *hub) stop() {
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		return
	}
	h.stopped = true
	h.mu.Unlock()
	if h.unsub != nil {
		h.unsub()
	}
	close(h.done)
	h.wg.Wait()
}

// onEvent records a store event; it never blocks (storage.Store.Subscribe).
func (h *hub) onEvent(ev storage.Event) {
	h.mu.Lock()
	if len(h.viewers) == 0 {
		h.mu.Unlock()
		return // nobody watches: a new page reads what it needs
	}
	h.dirty = true
	h.ready = true // new executions may have come: an executor that claims what it enqueues publishes no Ready
	for _, id := range ev.Finished {
		if !h.seen[id] {
			h.seen[id] = true
			h.finished = append(h.finished, id)
		}
	}
	h.mu.Unlock()
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

func (h *hub) loop() {
	defer h.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-h.done
		cancel()
	}()
	for {
		select {
		case <-h.kick:
		case <-h.done:
			return
		}
		// One query per interval while there is work (counts not yet due
		// are work to come back to).
		for h.step(ctx) {
			select {
			case <-time.After(h.interval):
			case <-h.done:
				return
			}
		}
	}
}

// step does the next piece of work, one query, and reports whether there
// was work (done now, or counts to refresh once due). The kinds of work
// take turns, so none starves the others.
func (h *hub) step(ctx context.Context) bool {
	h.mu.Lock()
	var ids []string
	work := ""
	for i := range 3 {
		switch (h.turn + i) % 3 {
		case 0:
			if len(h.finished) > 0 {
				n := min(len(h.finished), maxStatusBatch)
				ids = append(ids, h.finished[:n]...)
				h.finished = h.finished[n:]
				for _, id := range ids {
					delete(h.seen, id)
				}
				work = "status"
			}
		case 1:
			if h.ready {
				h.ready, work = false, "rows"
			}
		case 2:
			if h.dirty && h.counts.due() {
				h.dirty, work = false, "counts"
			}
		}
		if work != "" {
			h.turn = (h.turn + i + 1) % 3
			break
		}
	}
	pending := h.dirty
	h.mu.Unlock()
	if work == "" {
		return pending
	}
	h.queries.Add(1)
	msg, err := h.query(ctx, work, ids)
	if err != nil {
		if ctx.Err() == nil {
			h.log.Warn("dashboard: live update failed", "update", work, "error", err)
		}
		return true
	}
	h.broadcast(msg)
	return true
}

func (h *hub) query(ctx context.Context, work string, ids []string) ([]byte, error) {
	now := time.Now()
	switch work {
	case "status":
		page, err := h.ex.List(ctx, durable.ListOptions{Filter: durable.Filter{IDs: ids}, Limit: maxStatusBatch})
		if err != nil {
			return nil, err
		}
		type change struct {
			ID     string         `json:"id"`
			Status durable.Status `json:"status"`
		}
		out := make([]change, len(page.Records))
		for i, r := range page.Records {
			out[i] = change{r.ID, r.Status}
		}
		return sse("status", out)
	case "rows":
		page, err := h.ex.List(ctx, durable.ListOptions{Limit: recentRows})
		if err != nil {
			return nil, err
		}
		type row struct {
			ID     string         `json:"id"`
			Task   string         `json:"task"`
			Status durable.Status `json:"status"`
			Tags   []string       `json:"tags"`
			Top    bool           `json:"top"`
			HTML   string         `json:"html"`
		}
		out := make([]row, len(page.Records))
		for i := range page.Records {
			r := &page.Records[i]
			var buf bytes.Buffer
			if err := h.pages.fragment(&buf, "list", "row", rowOf(r, now)); err != nil {
				return nil, err
			}
			out[i] = row{ID: r.ID, Task: r.TaskID, Status: r.Status, Tags: r.Tags, Top: r.ParentID == "", HTML: buf.String()}
		}
		return sse("rows", out)
	default: // counts
		counts, at, err := h.counts.get(ctx)
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		if err := h.pages.fragment(&buf, "overview", "counts", h.pages.countsOf(counts, at, now)); err != nil {
			return nil, err
		}
		return sse("counts", map[string]string{"html": buf.String()})
	}
}

// sse encodes one server-sent event whose data is v as JSON (one line:
// encoding/json escapes newlines).
func sse(event string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return fmt.Appendf(nil, "event: %s\ndata: %s\n\n", event, b), nil
}

func (h *hub) broadcast(msg []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for v := range h.viewers {
		select {
		case v.ch <- msg:
		default:
			v.missed.Store(true)
		}
	}
}

// add registers a viewer; nil when there are too many or the hub stopped.
func (h *hub) add() *viewer {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped || len(h.viewers) >= maxViewers {
		return nil
	}
	v := &viewer{ch: make(chan []byte, 32)}
	h.viewers[v] = struct{}{}
	return v
}

func (h *hub) remove(v *viewer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.viewers, v)
	if len(h.viewers) == 0 { // nobody watches: forget the pending work
		h.finished, h.seen, h.ready, h.dirty = nil, map[string]bool{}, false, false
	}
}

// keepAlive is how often an idle stream gets a comment, so that proxies
// keep it open.
const keepAlive = 20 * time.Second

// events streams the live updates to one page.
func (d *Dashboard) events(w http.ResponseWriter, r *http.Request) {
	if _, ok := d.session(w, r); !ok {
		http.Error(w, "not logged in", http.StatusUnauthorized)
		return
	}
	if d.cfg.Events == nil {
		http.Error(w, "this dashboard has no live updates (Config.Events is nil)", http.StatusNotFound)
		return
	}
	v := d.hub.add()
	if v == nil {
		http.Error(w, "too many open dashboards", http.StatusServiceUnavailable)
		return
	}
	defer d.hub.remove(v)
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's WriteTimeout; not every writer supports it
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, "retry: 3000\nevent: hello\ndata: {}\n\n"); err != nil || rc.Flush() != nil {
		return
	}
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		var msg []byte
		select {
		case msg = <-v.ch:
		case <-tick.C:
			msg = []byte(": keep-alive\n\n")
		case <-r.Context().Done():
			return
		case <-d.hub.done:
			return
		}
		if v.missed.Swap(false) {
			msg = append([]byte("event: stale\ndata: {}\n\n"), msg...)
		}
		if _, err := w.Write(msg); err != nil || rc.Flush() != nil {
			return
		}
	}
}
