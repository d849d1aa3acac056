package durable_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/clock"
	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/memory"
	"github.com/durable-go/durable/storage/mysql"
	"github.com/durable-go/durable/storage/postgres"
	"github.com/durable-go/durable/storage/sqlite"
)

// The schedules' tests drive a fake clock to each tick and wait until the
// scheduler has passed at that time (SchedulerPassedAt): every tick up to
// it has then been fired. Then they compare the executions the schedule
// made, found by its tag, with the ticks expected.

// schedConfig is the configuration of the schedules' executors: a fake
// clock, and finished executions kept (the clock jumps months).
func schedConfig(t *testing.T, fc *clock.Fake) durable.Config {
	return durable.Config{Clock: fc, Logger: testLogger(t), Retention: durable.Retention{Completed: -1, Failed: -1, Cancelled: -1}}
}

// scheduledTask registers a task that returns its input.
func scheduledTask(t *testing.T, ex *durable.Executor, id string) *durable.Task[string, string] {
	t.Helper()
	return durable.Must(durable.NewTask(ex, id, func(ctx context.Context, in string) (string, error) { return in, nil }))
}

// setTo jumps the fake clock to at and waits until each executor's
// scheduler has passed at that time.
func setTo(t *testing.T, fc *clock.Fake, at time.Time, exs ...*durable.Executor) {
	t.Helper()
	fc.Jump(at)
	for _, ex := range exs {
		eventually(t, "a scheduler pass at "+at.String(), func() bool { return durable.SchedulerPassedAt(ex).Equal(at) })
	}
}

// ticksOf returns the ticks of the executions schedule name made, as
// RFC 3339 strings, and fails on an execution not marked as the
// schedule's, not keyed by its tick, or made twice for a tick.
func ticksOf(t *testing.T, ctx context.Context, ex *durable.Executor, name string) []string {
	t.Helper()
	page, err := ex.List(ctx, durable.ListOptions{Filter: durable.Filter{Tag: durable.ScheduleTagPrefix + name}, OldestFirst: true, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var ticks []string
	for _, r := range page.Records {
		tick := r.Metadata[durable.MetadataTick]
		if r.Metadata[durable.MetadataSchedule] != name || tick == "" {
			t.Errorf("execution %s: metadata %v, want the schedule %s and a tick", r.ID, r.Metadata, name)
		}
		if want := "ik_" + durable.ScheduleTagPrefix + name + ":" + tick; r.ID != want {
			t.Errorf("execution %s: want the id %s", r.ID, want)
		}
		if slices.Contains(ticks, tick) {
			t.Errorf("schedule %s: two executions for the tick %s", name, tick)
		}
		ticks = append(ticks, tick)
	}
	slices.Sort(ticks)
	return ticks
}

func rfc(ts ...time.Time) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.UTC().Format(time.RFC3339)
	}
	slices.Sort(out)
	return out
}

func sameTicks(t *testing.T, name string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("schedule %s: ticks\n got %v\nwant %v", name, got, want)
	}
}

// TestScheduleCronThroughDST: three cron schedules in America/New_York
// through the spring-forward day (2026-03-08) and the fall-back day
// (2026-11-01) enqueue exactly robfig's ticks: a 02:30 job skips the
// spring-forward day and runs once (02:30 EST) on the fall-back day; a
// 01:30 job runs twice on the fall-back day (EDT, then EST); an hourly
// job runs 23 times on the first day and 25 on the second. Between the
// two, the clock jumps seven months: the missed ticks are skipped.
func TestScheduleCronThroughDST(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no time zone data: %v", err)
	}
	at := func(mo time.Month, d, h, m int, zone string) time.Time {
		ts := time.Date(2026, mo, d, h, m, 0, 0, ny)
		if _, off := ts.Zone(); zone == "EST" && off != -5*3600 {
			ts = ts.Add(time.Hour) // the second 01:30 of the fall-back day
		}
		if name, _ := ts.Zone(); name != zone {
			t.Fatalf("%s is not in %s", ts, zone)
		}
		return ts
	}
	start1, end1 := at(3, 7, 12, 0, "EST"), at(3, 9, 12, 0, "EDT")
	start2, end2 := at(10, 31, 11, 30, "EDT"), at(11, 2, 12, 0, "EST")
	hourly := func(from, to time.Time) []time.Time {
		var out []time.Time
		for h := from.Truncate(time.Hour).Add(time.Hour); !h.After(to); h = h.Add(time.Hour) {
			out = append(out, h)
		}
		return out
	}
	want := map[string][]time.Time{
		"at-0230": {at(3, 9, 2, 30, "EDT"), at(11, 1, 2, 30, "EST"), at(11, 2, 2, 30, "EST")},
		"at-0130": {at(3, 8, 1, 30, "EST"), at(3, 9, 1, 30, "EDT"), at(11, 1, 1, 30, "EDT"), at(11, 1, 1, 30, "EST"), at(11, 2, 1, 30, "EST")},
		"hourly":  append(hourly(start1, end1), hourly(start2, end2)...),
	}
	perDay := map[string]int{}
	for _, h := range want["hourly"] {
		perDay[h.In(ny).Format(time.DateOnly)]++
	}
	if perDay["2026-03-08"] != 23 || perDay["2026-11-01"] != 25 {
		t.Fatalf("the test's hourly ticks: %v", perDay)
	}

	fc := clock.NewFake(start1)
	b := setupOn(t, memory.New(), schedConfig(t, fc), false)
	task := scheduledTask(t, b.ex, "report")
	for name, expr := range map[string]string{"at-0230": "0 30 2 * * *", "at-0130": "30 1 * * *", "hourly": "0 0 * * * *"} {
		if err := b.ex.Schedule(name, task, name, durable.Cron(expr, "America/New_York")); err != nil {
			t.Fatal(err)
		}
	}
	b.start(t)
	var steps []time.Time
	for _, ts := range want {
		steps = append(steps, ts...)
	}
	steps = append(steps, start2, end2)
	slices.SortFunc(steps, func(a, b time.Time) int { return a.Compare(b) })
	for _, ts := range slices.Compact(steps) {
		setTo(t, fc, ts, b.ex)
	}
	for name, ticks := range want {
		sameTicks(t, name, ticksOf(t, b.ctx, b.ex, name), rfc(ticks...))
	}
}

// TestScheduleThreeExecutorsRace: three executors on one store register
// the same schedule and fire each tick at the same moment of a shared
// clock: each tick makes exactly one execution.
func TestScheduleThreeExecutorsRace(t *testing.T) {
	store := memory.New()
	raceSchedule(t, func(int) storage.Store { return store })
}

// TestScheduleThreeExecutorsRaceSQLite: the race of three executors, each
// with its own handle on one SQLite file, as three processes would be.
func TestScheduleThreeExecutorsRaceSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sched.db")
	raceSchedule(t, func(int) storage.Store {
		store, err := sqlite.Open(context.Background(), path, sqlite.Config{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		return store
	})
}

// TestScheduleThreeExecutorsRacePostgres: the race of three executors,
// each with its own pool on one PostgreSQL schema; it needs
// DURABLE_TEST_POSTGRES_URL.
func TestScheduleThreeExecutorsRacePostgres(t *testing.T) {
	dsn := os.Getenv("DURABLE_TEST_POSTGRES_URL")
	if dsn == "" {
		t.Skip("set DURABLE_TEST_POSTGRES_URL to test on PostgreSQL")
	}
	schema := fmt.Sprintf("sched_%d", time.Now().UnixNano())
	raceSchedule(t, func(i int) storage.Store {
		store, err := postgres.Open(context.Background(), dsn, postgres.Config{Schema: schema, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if i == 0 { // the last cleanup: the other stores are closed
				_, _ = store.Pool().Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			}
			store.Close()
		})
		return store
	})
}

// TestScheduleThreeExecutorsRaceMySQL: the race of three executors, each
// with its own connection pool on one set of MySQL tables; it needs
// DURABLE_TEST_MYSQL_DSN.
func TestScheduleThreeExecutorsRaceMySQL(t *testing.T) {
	dsn := os.Getenv("DURABLE_TEST_MYSQL_DSN")
	if dsn == "" {
		t.Skip("set DURABLE_TEST_MYSQL_DSN to test on MySQL")
	}
	prefix := fmt.Sprintf("sched%d_", time.Now().UnixNano())
	raceSchedule(t, func(i int) storage.Store {
		store, err := mysql.Open(context.Background(), dsn, mysql.Config{TablePrefix: prefix, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if i == 0 { // the last cleanup: the other stores are closed
				for _, table := range mysql.TableNames(prefix) {
					_, _ = store.DB().ExecContext(context.Background(), "DROP TABLE IF EXISTS "+table)
				}
			}
			store.Close()
		})
		return store
	})
}

// raceSchedule runs three executors, on open(0), open(1) and open(2),
// firing every tick of one schedule for 30 minutes.
func raceSchedule(t *testing.T, open func(i int) storage.Store) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	fc := clock.NewFake(t0)
	var exs []*durable.Executor
	var ctx context.Context
	for i := range 3 {
		cfg := schedConfig(t, fc)
		if i == 0 { // through the wrapper that times store calls
			cfg.Hooks = []durable.Hooks{{StorageCall: func(durable.StorageCall) {}}}
		}
		b := setupOn(t, open(i), cfg, false)
		task := scheduledTask(t, b.ex, "tick")
		if err := b.ex.Schedule("every-minute", task, "x", durable.Every(time.Minute)); err != nil {
			t.Fatal(err)
		}
		b.start(t)
		exs, ctx = append(exs, b.ex), b.ctx
	}
	var want []time.Time
	for i := 1; i <= 30; i++ {
		tick := t0.Add(time.Duration(i) * time.Minute)
		setTo(t, fc, tick, exs...)
		want = append(want, tick)
	}
	sameTicks(t, "every-minute", ticksOf(t, ctx, exs[2], "every-minute"), rfc(want...))
	infos, err := exs[1].Schedules(ctx)
	if err != nil || len(infos) != 1 {
		t.Fatalf("Schedules: %v, %v", infos, err)
	}
	if got := infos[0]; !got.Through.Equal(want[len(want)-1]) || !got.Next.Equal(want[len(want)-1].Add(time.Minute)) {
		t.Errorf("Through %s, Next %s; want the last tick and the one after", got.Through, got.Next)
	}
}

// TestScheduleMissedTicks: an hourly schedule whose executors were all
// down from 11:00 to 15:10: MissedSkip resumes at 16:00, MissedRunOnce
// enqueues 15:00 (the latest missed tick) once at 15:10 first. A tick
// less than MissedGrace late is enqueued under either.
func TestScheduleMissedTicks(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	h := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Hour) }
	for _, tc := range []struct {
		name    string
		policy  durable.MissedPolicy
		restart time.Time
		want    []time.Time
	}{
		{"Skip", durable.MissedSkip, h(5).Add(10 * time.Minute), []time.Time{h(1), h(6)}},
		{"RunOnce", durable.MissedRunOnce, h(5).Add(10 * time.Minute), []time.Time{h(1), h(5), h(6)}},
		{"SkipWithinGrace", durable.MissedSkip, h(5).Add(30 * time.Second), []time.Time{h(1), h(5), h(6)}},
		{"RunOnceWithinGrace", durable.MissedRunOnce, h(5).Add(30 * time.Second), []time.Time{h(1), h(4), h(5), h(6)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fc := clock.NewFake(t0)
			store := memory.New()
			run := func(until ...time.Time) *bundle {
				b := setupOn(t, store, schedConfig(t, fc), false)
				task := scheduledTask(t, b.ex, "sync")
				if err := b.ex.Schedule("hourly", task, "", durable.Every(time.Hour), durable.WithMissed(tc.policy)); err != nil {
					t.Fatal(err)
				}
				b.start(t)
				for _, ts := range until {
					setTo(t, fc, ts, b.ex)
				}
				return b
			}
			first := run(h(1))
			if err := first.ex.Shutdown(first.ctx); err != nil {
				t.Fatal(err)
			}
			fc.Set(tc.restart)
			second := run(tc.restart, h(6))
			sameTicks(t, "hourly", ticksOf(t, second.ctx, second.ex, "hourly"), rfc(tc.want...))
		})
	}
}

// TestSchedulePauseResume: a schedule paused from another executor skips
// its ticks (they are not enqueued at resume) and fires again once
// resumed; pausing or resuming an unknown schedule is ErrNotFound.
func TestSchedulePauseResume(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	m := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	fc := clock.NewFake(t0)
	store := memory.New()
	b := setupOn(t, store, schedConfig(t, fc), false)
	task := scheduledTask(t, b.ex, "poll")
	if err := b.ex.Schedule("poll", task, "", durable.Every(time.Minute)); err != nil {
		t.Fatal(err)
	}
	b.start(t)
	operator := setupOn(t, store, schedConfig(t, fc), false).ex // never started: the durable command's view

	setTo(t, fc, m(1), b.ex)
	if changed, err := operator.PauseSchedule(b.ctx, "poll"); err != nil || !changed {
		t.Fatalf("pause: %v, %v", changed, err)
	}
	if changed, err := operator.PauseSchedule(b.ctx, "poll"); err != nil || changed {
		t.Fatalf("pausing a paused schedule: %v, %v; want false, nil", changed, err)
	}
	infos, err := operator.Schedules(b.ctx)
	if err != nil || len(infos) != 1 || !infos[0].Paused {
		t.Fatalf("Schedules after pause: %+v, %v", infos, err)
	}
	setTo(t, fc, m(2), b.ex)
	setTo(t, fc, m(3), b.ex)
	if changed, err := operator.ResumeSchedule(b.ctx, "poll"); err != nil || !changed {
		t.Fatalf("resume: %v, %v", changed, err)
	}
	infos, _ = operator.Schedules(b.ctx)
	if infos[0].Paused || !infos[0].Through.Equal(m(3)) {
		t.Errorf("after resume: paused %v, through %s; want false and %s (the paused ticks passed over)", infos[0].Paused, infos[0].Through, m(3))
	}
	setTo(t, fc, m(4), b.ex)
	sameTicks(t, "poll", ticksOf(t, b.ctx, b.ex, "poll"), rfc(m(1), m(4)))

	for _, f := range []func(context.Context, string) (bool, error){operator.PauseSchedule, operator.ResumeSchedule} {
		if _, err := f(b.ctx, "nightly"); !errors.Is(err, durable.ErrNotFound) || !strings.Contains(err.Error(), "nightly") {
			t.Errorf("unknown schedule: %v, want ErrNotFound naming it", err)
		}
	}
}

// TestScheduleRegistration: a schedule registered before Start is in the
// store from Start on, one registered after at once; both are listed with
// their definition; a name twice is ErrDuplicate.
func TestScheduleRegistration(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	fc := clock.NewFake(t0)
	b := setupOn(t, memory.New(), schedConfig(t, fc), false)
	task := scheduledTask(t, b.ex, "report")
	if err := b.ex.Schedule("paris", task, "morning", durable.Cron("0 30 9 * * *", "Europe/Paris"), durable.WithMissed(durable.MissedRunOnce)); err != nil {
		t.Fatal(err)
	}
	if infos, err := b.ex.Schedules(b.ctx); err != nil || len(infos) != 0 {
		t.Fatalf("before Start: %v, %v; want none", infos, err)
	}
	b.start(t)
	if err := b.ex.Schedule("quarter", task, "", durable.Every(15*time.Minute)); err != nil {
		t.Fatal(err)
	}
	err := b.ex.Schedule("quarter", task, "", durable.Every(time.Hour))
	if !errors.Is(err, durable.ErrDuplicate) {
		t.Errorf("the same name twice: %v, want ErrDuplicate", err)
	}
	infos, err := b.ex.Schedules(b.ctx)
	if err != nil || len(infos) != 2 {
		t.Fatalf("after Start: %+v, %v", infos, err)
	}
	paris, quarter := infos[0], infos[1]
	if paris.Name != "paris" || paris.TaskID != "report" || paris.Cron != "0 30 9 * * *" || paris.Zone != "Europe/Paris" ||
		paris.Missed != durable.MissedRunOnce || string(paris.Input) != `"morning"` || paris.Paused ||
		!paris.Through.Equal(t0) || !paris.Next.Equal(time.Date(2026, 12, 1, 8, 30, 0, 0, time.UTC).AddDate(0, 0, 1)) {
		t.Errorf("paris: %+v", paris)
	}
	if quarter.Name != "quarter" || quarter.Every != 15*time.Minute || quarter.Missed != durable.MissedSkip ||
		!quarter.Next.Equal(t0.Add(15*time.Minute)) || quarter.Spec().String() != "every 15m0s" {
		t.Errorf("quarter: %+v", quarter)
	}
	if got := paris.Spec().String(); got != "cron 0 30 9 * * * Europe/Paris" {
		t.Errorf("paris spec: %s", got)
	}
}

// TestScheduleSuperseded: an executor whose definition of a schedule is
// no longer the store's (another registered it since) stops firing it;
// the other fires its own.
func TestScheduleSuperseded(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	fc := clock.NewFake(t0)
	store := memory.New()
	var exs []*durable.Executor
	var ctx context.Context
	for _, every := range []time.Duration{time.Minute, 2 * time.Minute} {
		b := setupOn(t, store, schedConfig(t, fc), false)
		task := scheduledTask(t, b.ex, "job")
		if err := b.ex.Schedule("job", task, "", durable.Every(every)); err != nil {
			t.Fatal(err)
		}
		b.start(t)
		setTo(t, fc, t0, b.ex) // the first has passed before the second registers
		exs, ctx = append(exs, b.ex), b.ctx
	}
	m := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
	setTo(t, fc, m(1), exs[0]) // the first executor's tick: it finds the store's definition changed and fires nothing
	setTo(t, fc, m(2), exs[1])
	setTo(t, fc, m(3))
	setTo(t, fc, m(4), exs[1])
	sameTicks(t, "job", ticksOf(t, ctx, exs[0], "job"), rfc(m(2), m(4)))
}

// TestScheduleBadInput: every mistake is refused at registration with an
// error naming it and the sentinel of its kind, and leaves nothing
// registered.
func TestScheduleBadInput(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	fc := clock.NewFake(t0)
	b := setupOn(t, memory.New(), schedConfig(t, fc), true)
	task := scheduledTask(t, b.ex, "job")
	checked := durable.Must(durable.NewTask(b.ex, "checked", func(ctx context.Context, n int) (int, error) { return n, nil },
		durable.WithValidator(func(n int) error {
			if n < 0 {
				return errors.New("n must not be negative")
			}
			return nil
		})))
	sleeping := durable.Must(durable.NewSleepingTask[string](b.ex, "approval"))
	other := scheduledTask(t, setupOn(t, memory.New(), schedConfig(t, fc), false).ex, "job")
	var nilTask *durable.Task[string, string]
	every := durable.Every(time.Minute)
	for _, tc := range []struct {
		name  string
		sched func() error
		want  error
		msg   []string
	}{
		{"EmptyName", func() error { return b.ex.Schedule("", task, "", every) }, durable.ErrInvalidOption, []string{"schedule", "name"}},
		{"NameWithSpace", func() error { return b.ex.Schedule("my job", task, "", every) }, durable.ErrInvalidOption, []string{`"my job"`}},
		{"NameTooLong", func() error { return b.ex.Schedule(strings.Repeat("n", 65), task, "", every) }, durable.ErrInvalidOption, []string{"1..64"}},
		{"ZeroSpec", func() error { return b.ex.Schedule("s", task, "", durable.ScheduleSpec{}) }, durable.ErrInvalidOption, []string{"Cron or Every"}},
		{"BadCron", func() error { return b.ex.Schedule("s", task, "", durable.Cron("0 61 * * *", "")) }, durable.ErrInvalidOption, []string{"cron expression", "0 61 * * *"}},
		{"CronTooManyFields", func() error { return b.ex.Schedule("s", task, "", durable.Cron("0 0 0 * * * *", "")) }, durable.ErrInvalidOption, []string{"cron expression"}},
		{"EmptyCron", func() error { return b.ex.Schedule("s", task, "", durable.Cron(" ", "UTC")) }, durable.ErrInvalidOption, []string{"empty"}},
		{"CronEvery", func() error { return b.ex.Schedule("s", task, "", durable.Cron("@every 1h", "")) }, durable.ErrInvalidOption, []string{"Every"}},
		{"CronTZPrefix", func() error { return b.ex.Schedule("s", task, "", durable.Cron("CRON_TZ=Asia/Tokyo 0 0 * * *", "")) }, durable.ErrInvalidOption, []string{"second argument"}},
		{"CronNever", func() error { return b.ex.Schedule("s", task, "", durable.Cron("0 0 0 30 2 *", "")) }, durable.ErrInvalidOption, []string{"never ticks"}},
		{"BadZone", func() error { return b.ex.Schedule("s", task, "", durable.Cron("0 0 * * *", "Mars/Olympus")) }, durable.ErrInvalidOption, []string{"time zone", "Mars/Olympus"}},
		{"LocalZone", func() error { return b.ex.Schedule("s", task, "", durable.Cron("0 0 * * *", "Local")) }, durable.ErrInvalidOption, []string{`"Local"`}},
		{"ZeroInterval", func() error { return b.ex.Schedule("s", task, "", durable.Every(0)) }, durable.ErrInvalidOption, []string{"interval 0s"}},
		{"NegativeInterval", func() error { return b.ex.Schedule("s", task, "", durable.Every(-time.Minute)) }, durable.ErrInvalidOption, []string{"interval -1m0s"}},
		{"SubSecondInterval", func() error { return b.ex.Schedule("s", task, "", durable.Every(1500*time.Millisecond)) }, durable.ErrInvalidOption, []string{"interval 1.5s", "whole number of seconds"}},
		{"UnknownPolicy", func() error { return b.ex.Schedule("s", task, "", every, durable.WithMissed(7)) }, durable.ErrInvalidOption, []string{"missed-tick policy 7"}},
		{"NilTask", func() error { return b.ex.Schedule("s", nilTask, "", every) }, durable.ErrUnknownTask, []string{"schedule s", "no task"}},
		{"ForeignTask", func() error { return b.ex.Schedule("s", other, "", every) }, durable.ErrUnknownTask, []string{"task job", "not registered"}},
		{"SleepingTask", func() error { return b.ex.Schedule("s", sleeping, "", every) }, durable.ErrInvalidInput, []string{"approval", "sleeping"}},
		{"WrongInputType", func() error { return b.ex.Schedule("s", task, 42, every) }, durable.ErrInvalidInput, []string{"input of type int", "string"}},
		{"ValidatorRefuses", func() error { return b.ex.Schedule("s", checked, -1, every) }, durable.ErrInvalidInput, []string{"negative"}},
		{"InputNotUTF8", func() error { return b.ex.Schedule("s", task, "\xff", every) }, durable.ErrInvalidInput, []string{"UTF-8"}},
		{"IdempotencyKey", func() error {
			return b.ex.Schedule("s", task, "", every, durable.WithScheduleEnqueueOptions(durable.WithIdempotencyKey("k")))
		}, durable.ErrInvalidOption, []string{"WithIdempotencyKey"}},
		{"BadTimeout", func() error {
			return b.ex.Schedule("s", task, "", every, durable.WithScheduleEnqueueOptions(durable.WithTimeout(0)))
		}, durable.ErrInvalidOption, []string{"timeout 0s"}},
		{"TooManyTags", func() error {
			tags := make([]string, 16)
			for i := range tags {
				tags[i] = fmt.Sprint("t", i)
			}
			return b.ex.Schedule("s", task, "", every, durable.WithScheduleEnqueueOptions(durable.WithTags(tags...)))
		}, durable.ErrInvalidOption, []string{"17 tags"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.sched()
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			for _, m := range tc.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not say %q", err, m)
				}
			}
			if infos, err := b.ex.Schedules(b.ctx); err != nil || len(infos) != 0 {
				t.Errorf("registered after a refusal: %+v, %v", infos, err)
			}
		})
	}
	// A good schedule registers after all those refusals: none was half-kept.
	if err := b.ex.Schedule("s", task, "", every); err != nil {
		t.Fatal(err)
	}
}

// TestScheduleExecutionsMarked: a tick's execution has the task's tags
// with the schedule's, the enqueue options the schedule gives (metadata, a
// queue, a priority) and the schedule's metadata; a schedule added to a
// started executor fires too.
func TestScheduleExecutionsMarked(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	fc := clock.NewFake(t0)
	cfg := schedConfig(t, fc)
	cfg.Queues = []string{"default", "reports"}
	b := setupOn(t, memory.New(), cfg, true)
	task := durable.Must(durable.NewTask(b.ex, "report", func(ctx context.Context, in string) (string, error) { return in, nil },
		durable.WithTags("team:sales")))
	err := b.ex.Schedule("hourly", task, "q3", durable.Every(time.Hour), durable.WithScheduleEnqueueOptions(
		durable.WithMetadata(map[string]string{"origin": "test"}), durable.WithQueue("reports"), durable.WithPriority(2)))
	if err != nil {
		t.Fatal(err)
	}
	tick := t0.Add(time.Hour)
	setTo(t, fc, tick, b.ex)
	r, err := b.ex.GetByKey(b.ctx, "schedule:hourly:2026-12-01T11:00:00Z")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Tags, []string{"team:sales", "schedule:hourly"}) || r.Queue != "reports" || r.Priority != 2 ||
		r.Metadata["origin"] != "test" || r.Metadata[durable.MetadataSchedule] != "hourly" || r.Metadata[durable.MetadataTick] != "2026-12-01T11:00:00Z" {
		t.Errorf("the tick's execution: tags %v, queue %s, priority %d, metadata %v", r.Tags, r.Queue, r.Priority, r.Metadata)
	}
	if x, err := b.ex.Wait(b.ctx, r.ID); err != nil || x.Status != durable.StatusCompleted || string(x.Output) != `"q3"` {
		t.Errorf("the tick's run: %+v, %v", x, err)
	}
}

// failingAdvance is a memory store whose AdvanceControl fails while fail
// is set, as a crash between a tick's enqueue and its mark would.
type failingAdvance struct {
	*memory.Store
	fail atomic.Bool
}

func (f *failingAdvance) AdvanceControl(ctx context.Context, p storage.AdvanceControlParams) (bool, error) {
	if f.fail.Load() {
		return false, errors.New("connection reset (injected)")
	}
	return f.Store.AdvanceControl(ctx, p)
}

// TestScheduleMarkFailsAfterEnqueue: when the mark cannot be moved after
// a tick was enqueued, the next pass (a second later) enqueues the tick
// again, which the key makes the same execution, and moves the mark.
func TestScheduleMarkFailsAfterEnqueue(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	fc := clock.NewFake(t0)
	store := &failingAdvance{Store: memory.New()}
	cfg := schedConfig(t, fc)
	cfg.Logger = slog.New(slog.DiscardHandler) // the injected error is logged
	b := setupOn(t, store, cfg, false)
	task := scheduledTask(t, b.ex, "job")
	if err := b.ex.Schedule("minutely", task, "", durable.Every(time.Minute)); err != nil {
		t.Fatal(err)
	}
	b.start(t)
	setTo(t, fc, t0, b.ex)
	store.fail.Store(true)
	tick := t0.Add(time.Minute)
	setTo(t, fc, tick, b.ex)
	sameTicks(t, "minutely", ticksOf(t, b.ctx, b.ex, "minutely"), rfc(tick))
	infos, _ := b.ex.Schedules(b.ctx)
	if !infos[0].Through.Equal(t0) {
		t.Fatalf("through %s after a failed advance, want %s", infos[0].Through, t0)
	}
	store.fail.Store(false)
	setTo(t, fc, tick.Add(time.Second), b.ex)
	sameTicks(t, "minutely", ticksOf(t, b.ctx, b.ex, "minutely"), rfc(tick))
	infos, _ = b.ex.Schedules(b.ctx)
	if !infos[0].Through.Equal(tick) {
		t.Errorf("through %s after the retry, want %s", infos[0].Through, tick)
	}
}
