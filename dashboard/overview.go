package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/durable-go/durable"
)

// statusOrder is the order statuses are shown in: live work first.
var statusOrder = []durable.Status{durable.StatusReady, durable.StatusRunning, durable.StatusWaitingForChildren,
	durable.StatusWaitingForFinalize, durable.StatusCompleted, durable.StatusFailed, durable.StatusTimedOut,
	durable.StatusChildrenFailed, durable.StatusFinalizeFailed, durable.StatusCancelled}

// failedStatuses are the terminal statuses other than completed.
var failedStatuses = []durable.Status{durable.StatusFailed, durable.StatusTimedOut,
	durable.StatusChildrenFailed, durable.StatusFinalizeFailed, durable.StatusCancelled}

// countsView is the counts of every execution: totals by status and a
// task × status table. The live feed renders it once per update.
type countsView struct {
	Totals  []statusCount
	Columns []durable.Status // the statuses present
	Tasks   []taskCounts
	Updated moment
}

type statusCount struct {
	Status durable.Status
	N      int64
}

type taskCounts struct {
	TaskID    string
	Cells     []cell
	OldestDue string // how long its oldest due execution has waited
}

type cell struct {
	N    int64
	Link string
}

func (p *pages) countsOf(counts []durable.Count, at, now time.Time) countsView {
	byStatus := map[durable.Status]int64{}
	byTask := map[string]map[durable.Status]int64{}
	oldest := map[string]time.Time{}
	var tasks []string
	for _, c := range counts {
		byStatus[c.Status] += c.N
		if byTask[c.TaskID] == nil {
			byTask[c.TaskID] = map[durable.Status]int64{}
			tasks = append(tasks, c.TaskID)
		}
		byTask[c.TaskID][c.Status] += c.N
		if !c.OldestDue.IsZero() && (oldest[c.TaskID].IsZero() || c.OldestDue.Before(oldest[c.TaskID])) {
			oldest[c.TaskID] = c.OldestDue
		}
	}
	v := countsView{Updated: momentOf(at, now)}
	for _, s := range statusOrder {
		if byStatus[s] > 0 {
			v.Totals = append(v.Totals, statusCount{s, byStatus[s]})
			v.Columns = append(v.Columns, s)
		}
	}
	slices.Sort(tasks)
	for _, t := range tasks {
		tc := taskCounts{TaskID: t}
		for _, s := range v.Columns {
			q := url.Values{"task": {t}, "status": {string(s)}}
			tc.Cells = append(tc.Cells, cell{N: byTask[t][s], Link: p.prefix + "/executions?" + q.Encode()})
		}
		if !oldest[t].IsZero() {
			tc.OldestDue = human(now.Sub(oldest[t]))
		}
		v.Tasks = append(v.Tasks, tc)
	}
	return v
}

type overviewData struct {
	base
	Counts       countsView
	OldestDue    string // the oldest due execution's wait, over every task
	OldestDueAt  moment
	HourDone     int64 // finished in the last hour, completed
	HourFailed   int64 // finished in the last hour, any other terminal status
	HourByTask   []hourTask
	Executors    []executorView
	ExecutorsCut bool // more running executions than were read
}

type hourTask struct {
	TaskID         string
	Done, Failed   int64
	FailedLink     string
	CompletedLink  string
	PerMinute      string
	FailurePercent string
}

type executorView struct {
	ID            string
	Running       int
	LastHeartbeat moment
	LeaseUntil    moment
	Alive         bool // its latest lease has not lapsed
}

// maxRunningRead bounds the running executions the overview reads to find
// the executors.
const maxRunningRead = 1000

func (d *Dashboard) overview(w http.ResponseWriter, r *http.Request, b base) {
	ctx := r.Context()
	now := time.Now()
	data := overviewData{base: b}
	data.Title, data.Nav = "Overview", "overview"
	counts, at, err := d.counts.get(ctx)
	if err != nil {
		d.fail(w, r, b, err)
		return
	}
	data.Counts = d.pages.countsOf(counts, at, now)
	var oldest time.Time
	for _, c := range counts {
		if !c.OldestDue.IsZero() && (oldest.IsZero() || c.OldestDue.Before(oldest)) {
			oldest = c.OldestDue
		}
	}
	if !oldest.IsZero() {
		data.OldestDue, data.OldestDueAt = human(now.Sub(oldest)), momentOf(oldest, now)
	}
	if err := d.lastHour(ctx, now, &data); err != nil {
		d.fail(w, r, b, err)
		return
	}
	if err := d.executors(ctx, now, running(counts), &data); err != nil {
		d.fail(w, r, b, err)
		return
	}
	d.pages.render(w, http.StatusOK, "overview", data)
}

// lastHour counts the executions that finished in the last hour.
func (d *Dashboard) lastHour(ctx context.Context, now time.Time, data *overviewData) error {
	counts, at, err := d.lastHourCounts.get(ctx)
	if err != nil {
		return err
	}
	from := at.Add(-time.Hour)
	byTask := map[string]*hourTask{}
	var order []string
	for _, c := range counts {
		t := byTask[c.TaskID]
		if t == nil {
			t = &hourTask{TaskID: c.TaskID}
			byTask[c.TaskID] = t
			order = append(order, c.TaskID)
		}
		if c.Status == durable.StatusCompleted {
			t.Done += c.N
			data.HourDone += c.N
		} else {
			t.Failed += c.N
			data.HourFailed += c.N
		}
	}
	slices.Sort(order)
	fromText := from.UTC().Format(time.RFC3339)
	for _, id := range order {
		t := byTask[id]
		t.PerMinute = perMinute(t.Done + t.Failed)
		if t.Done+t.Failed > 0 {
			t.FailurePercent = percent(t.Failed, t.Done+t.Failed)
		}
		t.CompletedLink = d.cfg.Prefix + "/executions?" + url.Values{"task": {id}, "status": {"completed"}, "finished_from": {fromText}}.Encode()
		q := url.Values{"task": {id}, "finished_from": {fromText}}
		for _, s := range failedStatuses {
			q.Add("status", string(s))
		}
		t.FailedLink = d.cfg.Prefix + "/executions?" + q.Encode()
		data.HourByTask = append(data.HourByTask, *t)
	}
	return nil
}

// running is the number of running executions in counts.
func running(counts []durable.Count) int64 {
	var n int64
	for _, c := range counts {
		if c.Status == durable.StatusRunning {
			n += c.N
		}
	}
	return n
}

// executors finds the executors holding running executions, with their
// latest lease expiry: an executor renews its leases every LeaseDuration/3,
// so its last heartbeat was the latest expiry minus LeaseDuration. The
// list asks for as many rows as the counts found running (a store may walk
// every row to find running ones; it stops once it has them all).
func (d *Dashboard) executors(ctx context.Context, now time.Time, nRunning int64, data *overviewData) error {
	if nRunning == 0 {
		return nil
	}
	page, err := d.ex.List(ctx, durable.ListOptions{Filter: durable.Filter{Statuses: []durable.Status{durable.StatusRunning}},
		Limit: int(min(nRunning, maxRunningRead))})
	if err != nil {
		return err
	}
	data.ExecutorsCut = nRunning > maxRunningRead
	byID := map[string]*executorView{}
	latest := map[string]time.Time{}
	var ids []string
	for _, rec := range page.Records {
		if rec.ExecutorID == "" || rec.SleepKey != "" { // a sleeping execution has no executor
			continue
		}
		e := byID[rec.ExecutorID]
		if e == nil {
			e = &executorView{ID: rec.ExecutorID}
			byID[rec.ExecutorID] = e
			ids = append(ids, rec.ExecutorID)
		}
		e.Running++
		if rec.DueAt.After(latest[rec.ExecutorID]) {
			latest[rec.ExecutorID] = rec.DueAt
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		e := byID[id]
		e.LeaseUntil, e.Alive = momentOf(latest[id], now), latest[id].After(now)
		e.LastHeartbeat = momentOf(latest[id].Add(-d.cfg.LeaseDuration), now)
		data.Executors = append(data.Executors, *e)
	}
	return nil
}

func perMinute(n int64) string {
	return trimFloat(float64(n) / 60)
}

func percent(a, b int64) string {
	return trimFloat(100*float64(a)/float64(b)) + " %"
}
