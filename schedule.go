package durable

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/durable-go/durable/storage"
)

// Schedules: a task enqueued at every tick of a cron expression or of a
// fixed interval (schedule.go: the API and the definitions; scheduler.go:
// the loop that enqueues the ticks).

// ScheduleSpec says when a schedule ticks: Cron or Every. Its zero value
// is refused by Executor.Schedule.
type ScheduleSpec struct {
	cron   string        // Cron's expression
	zone   string        // Cron's time zone ("" is UTC)
	every  time.Duration // Every's interval
	set    bool          // made by Cron or Every
	isCron bool          // made by Cron
}

// Cron is a schedule that ticks at the times a cron expression names, in
// the time zone zone (an IANA name such as "Europe/Paris", loaded with
// time.LoadLocation; "" or "UTC" is UTC; "Local" is refused, as it would
// differ between the machines of the executors that fire the ticks).
//
// The expression is parsed by github.com/robfig/cron/v3 and takes six
// fields (second, minute, hour, day of month, month, day of week: "0 30 9
// * * *" is 09:30:00 every day), five (the seconds are 0: "30 9 * * 1-5"
// is 09:30 on weekdays), or a descriptor: @yearly (or @annually),
// @monthly, @weekly, @daily (or @midnight), @hourly. "@every" is refused:
// use Every. The zone is given here, not by a TZ= or CRON_TZ= prefix.
//
// Daylight saving time follows robfig's rules, which walk the wall clock
// of the zone: a tick in the hour that a spring-forward day skips does not
// happen that day (a 02:30 job in America/New_York does not run on the
// second Sunday of March), and a tick in the hour that a fall-back day
// repeats happens in both (a 01:30 job runs at 01:30 EDT and again at
// 01:30 EST on the first Sunday of November; a 02:30 job runs once, at
// 02:30 EST). A job that runs every hour runs 23 times on the first day,
// 25 on the second.
func Cron(expr, zone string) ScheduleSpec {
	return ScheduleSpec{cron: expr, zone: zone, set: true, isCron: true}
}

// Every is a schedule that ticks every d, at the multiples of d since the
// Unix epoch (1970-01-01 00:00:00 UTC): Every(15*time.Minute) ticks at
// :00, :15, :30 and :45 of every hour, Every(24*time.Hour) at midnight
// UTC. Aligned ticks are the same in every executor, which is what makes
// one execution per tick however many executors fire it. d must be a
// whole number of seconds, at least one.
func Every(d time.Duration) ScheduleSpec {
	return ScheduleSpec{every: d, set: true}
}

// String describes the spec: "cron 0 30 9 * * * Europe/Paris" or
// "every 15m0s".
func (s ScheduleSpec) String() string {
	switch {
	case !s.set:
		return "none"
	case s.isCron:
		return "cron " + s.cron + " " + zoneName(s.zone)
	default:
		return "every " + s.every.String()
	}
}

func zoneName(zone string) string {
	if zone == "" {
		return "UTC"
	}
	return zone
}

// ticks returns when s ticks, or an error naming what is wrong with it.
func (s ScheduleSpec) ticks() (tickSource, error) {
	switch {
	case !s.set:
		return nil, errors.New("no schedule spec: make one with Cron or Every")
	case s.isCron:
		return cronTicks(s.cron, s.zone)
	case s.every < time.Second || s.every%time.Second != 0:
		return nil, fmt.Errorf("interval %s: must be a whole number of seconds, at least 1s", s.every)
	default:
		return everyTicks{s.every}, nil
	}
}

// cronParser takes the six-field form (with seconds), the five-field form
// and the descriptors.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

func cronTicks(expr, zone string) (tickSource, error) {
	expr = strings.TrimSpace(expr)
	switch {
	case expr == "":
		return nil, errors.New("cron expression is empty")
	case strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ="):
		return nil, fmt.Errorf("cron expression %q: give the time zone as Cron's second argument, not as a prefix", expr)
	case strings.HasPrefix(expr, "@every"):
		return nil, fmt.Errorf("cron expression %q: use Every for a fixed interval", expr)
	}
	if zone == "Local" {
		return nil, errors.New(`time zone "Local": name the zone (such as "Europe/Paris"); the local zone may differ between executors`)
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %w", zone, err)
	}
	parsed, err := cronParser.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("cron expression %q: %w", expr, err)
	}
	spec, ok := parsed.(*cron.SpecSchedule)
	if !ok { // not reached: @every is refused above
		return nil, fmt.Errorf("cron expression %q: not a calendar schedule", expr)
	}
	spec.Location = loc
	return specTicks{spec}, nil
}

// MissedPolicy says what a schedule does with the ticks that passed while
// no executor fired them (every executor was down, or the store could not
// be reached) by more than the grace period, MissedGrace. Ticks less late
// than that are enqueued, each, whatever the policy: they were delayed,
// not missed.
type MissedPolicy int

const (
	// MissedSkip (the default) skips missed ticks: after an outage the
	// schedule resumes at its next tick. For work that only makes sense
	// on time (a reminder, a poll).
	MissedSkip MissedPolicy = iota
	// MissedRunOnce enqueues one execution for all the missed ticks, for
	// the latest of them, as soon as an executor fires the schedule
	// again. For work that catches up on everything at once (a sync, a
	// report of what changed since the last run).
	MissedRunOnce
)

// MissedGrace is how late a tick may be and still be enqueued under
// either policy: a tick that is late because the executor's timer fired
// late, its store was slow or an executor was restarting is not missed.
const MissedGrace = time.Minute

func (p MissedPolicy) String() string {
	switch p {
	case MissedSkip:
		return "skip"
	case MissedRunOnce:
		return "run_once"
	}
	return fmt.Sprintf("MissedPolicy(%d)", int(p))
}

func parseMissed(s string) (MissedPolicy, bool) {
	switch s {
	case "skip":
		return MissedSkip, true
	case "run_once":
		return MissedRunOnce, true
	}
	return 0, false
}

// ScheduleOption configures a schedule.
type ScheduleOption interface{ applySchedule(*scheduleOptions) }

type scheduleOptions struct {
	missed  MissedPolicy
	enqueue []EnqueueOption
}

type scheduleOptionFunc func(*scheduleOptions)

func (f scheduleOptionFunc) applySchedule(o *scheduleOptions) { f(o) }

// WithMissed sets the policy for missed ticks. Default: MissedSkip.
func WithMissed(p MissedPolicy) ScheduleOption {
	return scheduleOptionFunc(func(o *scheduleOptions) { o.missed = p })
}

// WithScheduleEnqueueOptions gives the options of every execution the
// schedule enqueues (WithTimeout, WithRetry, WithDelay, WithTags,
// WithMetadata), as an Enqueue would take them. WithIdempotencyKey is
// refused: the schedule makes each tick's key.
func WithScheduleEnqueueOptions(opts ...EnqueueOption) ScheduleOption {
	opts = slices.Clone(opts)
	return scheduleOptionFunc(func(o *scheduleOptions) { o.enqueue = append(o.enqueue, opts...) })
}

// The metadata and the tag of a schedule's executions.
const (
	// MetadataSchedule is the metadata key naming the schedule that
	// enqueued an execution.
	MetadataSchedule = "durable.schedule"
	// MetadataTick is the metadata key holding the execution's tick, in
	// RFC 3339 (UTC).
	MetadataTick = "durable.tick"
	// ScheduleTagPrefix starts the tag a schedule adds to its executions
	// ("schedule:" + name), to list them (Filter.Tag).
	ScheduleTagPrefix = "schedule:"
)

// scheduleSpecVersion is the version of the JSON a schedule keeps in the
// store (storage.Control.Spec).
const scheduleSpecVersion = 1

// scheduleSpecJSON is a schedule as the store keeps it, for every process
// and the durable command to list it.
type scheduleSpecJSON struct {
	V      int    `json:"v"`
	Task   string `json:"task"`
	Cron   string `json:"cron,omitempty"`
	Zone   string `json:"zone,omitempty"`
	Every  string `json:"every,omitempty"`
	Missed string `json:"missed"`
	// Input is the task's input encoded by the executor's codec.
	Input []byte `json:"input,omitempty"`
}

// schedule is a schedule registered with this executor.
type schedule struct {
	name  string
	spec  ScheduleSpec
	ticks tickSource
	d     *taskDef
	input any
	// opts are the enqueue options of every tick, the tag included;
	// the key and the metadata of the tick are added to them.
	opts   []EnqueueOption
	missed MissedPolicy
	stored []byte // the Spec registered in the store

	superseded bool // the store holds another Spec: logged once; touched by the loop only
}

// Schedule registers a schedule: the task is enqueued with input at every
// tick of spec, by whichever started executor that has registered the
// schedule fires the tick first; each tick makes one execution, however
// many executors fire it, because the tick's execution has an idempotency
// key made of the schedule's name and the tick's time ("schedule:" + name
// + ":" + the tick in RFC 3339, UTC; its id is "ik_" + that key). The
// execution carries the tag "schedule:"+name and the metadata
// MetadataSchedule (the name) and MetadataTick (the tick).
//
// Every process that runs the schedule registers it, as it registers its
// tasks, before or after Start. The schedule is kept in the store
// (storage.Controls, which the store must implement): at Start, or at once
// when the executor has started; from then on Schedules lists it, in
// every process, and PauseSchedule and ResumeSchedule (or the durable
// command) pause and resume it everywhere. The store keeps what was
// registered last under a name; an executor whose definition differs
// from the store's (an older version of the program, during a rollout)
// stops firing the schedule and logs it. The first registration of a
// name starts the schedule at that moment: no tick before it is enqueued.
//
// Registration checks everything first and registers nothing when
// anything is wrong: the name (as storage.ValidateQueueName: 1..64 bytes
// of [A-Za-z0-9_.:-]; ErrInvalidOption), the spec (the cron expression,
// the time zone, the interval; ErrInvalidOption), the task (registered
// with this executor, not a sleeping task: ErrUnknownTask,
// ErrInvalidInput), the input (of the task's input type, accepted by its
// validator and codec: ErrInvalidInput), the options (ErrInvalidOption), a
// name already scheduled by this executor (ErrDuplicate).
//
// A method beside the tasks rather than a Config field (River's
// PeriodicJobs are in its client's config): a schedule names a registered
// task, which exists only once the executor does, so it is declared with
// the task, as DBOS declares a scheduled workflow with the workflow.
// docs/semantics.md (Schedules) says what a schedule guarantees.
func (e *Executor) Schedule(name string, task TaskRef, input any, spec ScheduleSpec, opts ...ScheduleOption) error {
	if e == nil {
		return errNilExecutor
	}
	s, err := e.newSchedule(name, task, input, spec, opts)
	if err != nil {
		return err
	}
	return e.sched.add(s)
}

// newSchedule checks a schedule and makes its definition; it writes
// nothing.
func (e *Executor) newSchedule(name string, task TaskRef, input any, spec ScheduleSpec, opts []ScheduleOption) (*schedule, error) {
	if err := storage.ValidateQueueName(name); err != nil {
		return nil, fmt.Errorf("%w: schedule: %s", ErrInvalidOption, strings.Replace(err.Error(), "queue name", "name", 1))
	}
	bad := func(sentinel error, format string, args ...any) error {
		return fmt.Errorf("%w: schedule %s: %s", sentinel, name, fmt.Sprintf(format, args...))
	}
	ticks, err := spec.ticks()
	if err != nil {
		return nil, bad(ErrInvalidOption, "%v", err)
	}
	if ticks.next(e.now()).IsZero() {
		return nil, bad(ErrInvalidOption, "%s never ticks in the next five years", spec)
	}
	var o scheduleOptions
	for _, opt := range opts {
		if opt != nil {
			opt.applySchedule(&o)
		}
	}
	if _, ok := parseMissed(o.missed.String()); !ok {
		return nil, bad(ErrInvalidOption, "unknown missed-tick policy %d", int(o.missed))
	}
	d, err := e.scheduledTask(name, task)
	if err != nil {
		return nil, err
	}
	input, err = scheduleInput(d, input)
	if err != nil {
		return nil, bad(ErrInvalidInput, "%v", err)
	}
	s := &schedule{name: name, spec: spec, ticks: ticks, d: d, input: input, missed: o.missed}
	if s.opts, err = tickOptions(d, name, o.enqueue); err != nil {
		return nil, fmt.Errorf("schedule %s: %w", name, err)
	}
	// A dry run of a tick's enqueue: the validator, the codec and the
	// options refuse now what they would refuse at every tick.
	row, _, err := e.prepare(d, "schedule-check", input, "", s.tickOpts(ticks.next(e.now())))
	if err != nil {
		return nil, fmt.Errorf("schedule %s: %w", name, err)
	}
	s.stored, err = json.Marshal(s.specJSON(row.Input))
	if err != nil {
		return nil, bad(ErrInvalidInput, "%v", err)
	}
	if len(s.stored) > storage.MaxControlSpecBytes {
		return nil, bad(ErrInvalidInput, "the schedule with its encoded input is %d bytes, over the limit of %d", len(s.stored), storage.MaxControlSpecBytes)
	}
	return s, nil
}

// scheduledTask returns the definition of a schedule's task, which must
// be registered with this executor and take an input.
func (e *Executor) scheduledTask(name string, task TaskRef) (*taskDef, error) {
	var d *taskDef
	if !isNil(task) {
		d = task.def()
	}
	if d == nil {
		return nil, fmt.Errorf("%w: schedule %s: no task (nil or zero %T)", ErrUnknownTask, name, task)
	}
	if e.lookup(d.id) != d {
		return nil, fmt.Errorf("%w: schedule %s: task %s is not registered with this executor", ErrUnknownTask, name, d.id)
	}
	if d.kind == kindSleeping {
		return nil, fmt.Errorf("%w: schedule %s: task %s is a sleeping task, which is enqueued with a key and woken: it cannot be scheduled", ErrInvalidInput, name, d.id)
	}
	return d, nil
}

// scheduleInput checks that input is of the task's input type (nil
// standing for its zero value) and returns it as that type.
func scheduleInput(d *taskDef, input any) (any, error) {
	if input == nil {
		return reflect.Zero(d.inType).Interface(), nil
	}
	if t := reflect.TypeOf(input); !t.AssignableTo(d.inType) {
		return nil, fmt.Errorf("input of type %s: task %s takes %s", t, d.id, d.inType)
	}
	return input, nil
}

// tickOptions returns the enqueue options of every tick of schedule name:
// opts, then the task's tags (or those opts give) with the schedule's tag.
func tickOptions(d *taskDef, name string, opts []EnqueueOption) ([]EnqueueOption, error) {
	o, err := d.defaults.merge(opts)
	if err != nil {
		return nil, err
	}
	if o.key != "" || o.keyWindow > 0 {
		return nil, fmt.Errorf("%w: WithIdempotencyKey: a schedule makes the key of each tick", ErrInvalidOption)
	}
	tags := slices.Clone(o.tags)
	if tag := ScheduleTagPrefix + name; !slices.Contains(tags, tag) {
		tags = append(tags, tag)
	}
	if err := storage.ValidateTags(tags); err != nil {
		return nil, fmt.Errorf("%w: tags with the schedule's: %w", ErrInvalidOption, err)
	}
	return append(slices.Clone(opts), WithTags(tags...)), nil
}

// tickKey is the idempotency key of the execution of a schedule's tick.
func tickKey(name string, tick time.Time) string {
	return ScheduleTagPrefix + name + ":" + tick.UTC().Format(time.RFC3339)
}

// tickOpts are the enqueue options of the tick at tick.
func (s *schedule) tickOpts(tick time.Time) []EnqueueOption {
	return append(slices.Clone(s.opts), WithIdempotencyKey(tickKey(s.name, tick)),
		WithMetadata(map[string]string{MetadataSchedule: s.name, MetadataTick: tick.UTC().Format(time.RFC3339)}))
}

func (s *schedule) specJSON(input []byte) scheduleSpecJSON {
	j := scheduleSpecJSON{V: scheduleSpecVersion, Task: s.d.id, Missed: s.missed.String(), Input: input}
	if s.spec.isCron {
		j.Cron, j.Zone = s.spec.cron, zoneName(s.spec.zone)
	} else {
		j.Every = s.spec.every.String()
	}
	return j
}

// control is the schedule's control, as registered in the store; a new
// one starts at now (its Mark): no earlier tick is enqueued.
func (s *schedule) control(now time.Time) storage.Control {
	return storage.Control{Kind: storage.ControlSchedule, Name: s.name, Spec: s.stored, Mark: now.UnixMicro()}
}

// ScheduleInfo is a schedule as the store keeps it (Executor.Schedules).
type ScheduleInfo struct {
	Name string
	// TaskID is the task it enqueues.
	TaskID string
	// Cron and Zone, or Every, say when it ticks.
	Cron, Zone string
	Every      time.Duration
	Missed     MissedPolicy
	// Input is the task's input, encoded by the codec of the executor that
	// registered the schedule.
	Input []byte
	// Paused schedules skip their ticks (PauseSchedule).
	Paused bool
	// Through: every tick up to it has been enqueued or skipped (missed,
	// or paused); for a schedule that has had no tick, when it was first
	// registered.
	Through time.Time
	// Next is the next tick after Through and now; zero when the spec
	// cannot be read (written by a newer version of durable).
	Next time.Time
	// UpdatedAt is when the schedule was last registered, paused,
	// resumed or ticked.
	UpdatedAt time.Time
}

// Spec returns the schedule's spec (zero when it cannot be read).
func (i ScheduleInfo) Spec() ScheduleSpec {
	switch {
	case i.Cron != "":
		return Cron(i.Cron, i.Zone)
	case i.Every > 0:
		return Every(i.Every)
	}
	return ScheduleSpec{}
}

// Schedules lists the schedules kept in the store, by name, whichever
// process registered them; the task need not be registered here.
func (e *Executor) Schedules(ctx context.Context) ([]ScheduleInfo, error) {
	ctl, err := e.controlsOrErr()
	if err != nil {
		return nil, err
	}
	var cs []storage.Control
	err = e.retryStorage(ctx, func() (err error) {
		cs, err = ctl.ListControls(ctx, storage.ListControlsParams{Kind: storage.ControlSchedule})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("durable: listing schedules: %w", err)
	}
	now := e.now()
	out := make([]ScheduleInfo, len(cs))
	for i := range cs {
		out[i] = scheduleInfo(&cs[i], now)
	}
	return out, nil
}

func scheduleInfo(c *storage.Control, now time.Time) ScheduleInfo {
	info := ScheduleInfo{Name: c.Name, Paused: c.Paused, Through: time.UnixMicro(c.Mark).UTC(), UpdatedAt: c.UpdatedAt}
	var j scheduleSpecJSON
	if json.Unmarshal(c.Spec, &j) != nil || j.V != scheduleSpecVersion {
		return info
	}
	info.TaskID, info.Cron, info.Zone, info.Input = j.Task, j.Cron, j.Zone, j.Input
	info.Missed, _ = parseMissed(j.Missed)
	if j.Every != "" {
		info.Every, _ = time.ParseDuration(j.Every)
	}
	if ticks, err := info.Spec().ticks(); err == nil {
		info.Next = ticks.next(latest(info.Through, now))
	}
	return info
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// PauseSchedule pauses a schedule in every process: its ticks are skipped
// (not queued for later) until ResumeSchedule. It reports whether the
// schedule was running before (pausing a paused schedule does nothing).
// An unknown schedule is an error wrapping ErrNotFound.
func (e *Executor) PauseSchedule(ctx context.Context, name string) (bool, error) {
	return e.pauseSchedule(ctx, name, true)
}

// ResumeSchedule resumes a paused schedule: it fires again from its next
// tick. It reports whether the schedule was paused. An unknown schedule
// is an error wrapping ErrNotFound.
func (e *Executor) ResumeSchedule(ctx context.Context, name string) (bool, error) {
	return e.pauseSchedule(ctx, name, false)
}

func (e *Executor) pauseSchedule(ctx context.Context, name string, paused bool) (bool, error) {
	ctl, err := e.controlsOrErr()
	if err != nil {
		return false, err
	}
	if err := storage.ValidateQueueName(name); err != nil {
		return false, fmt.Errorf("%w: schedule: %s", ErrInvalidOption, strings.Replace(err.Error(), "queue name", "name", 1))
	}
	var changed bool
	err = e.retryStorage(ctx, func() (err error) {
		changed, err = ctl.PauseControl(ctx, storage.PauseControlParams{Now: e.now(), Kind: storage.ControlSchedule, Name: name, Paused: paused})
		return err
	})
	if errors.Is(err, storage.ErrNotFound) {
		return false, fmt.Errorf("%w: no schedule %q", ErrNotFound, name)
	}
	if err != nil {
		verb := "resuming"
		if paused {
			verb = "pausing"
		}
		return false, fmt.Errorf("durable: %s schedule %s: %w", verb, name, err)
	}
	return changed, nil
}

// controlsOrErr returns the store's storage.Controls, or the error of an
// executor that cannot read (nil).
func (e *Executor) controlsOrErr() (storage.Controls, error) {
	if err := e.checkRead(); err != nil {
		return nil, err
	}
	return e.store, nil
}

// sameSpec reports whether the store holds this schedule's definition.
func (s *schedule) sameSpec(c *storage.Control) bool { return bytes.Equal(c.Spec, s.stored) }
