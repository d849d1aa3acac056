package durable

import (
	"errors"
	"log/slog"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/durable-go/durable/clock"
)

// TestConfigDefaults checks that withDefaults gives every zero field its
// documented default and maps each special value, and that the result
// passes validate.
func TestConfigDefaults(t *testing.T) {
	// defaults is what Config{} becomes; each case changes it where its
	// input differs.
	defaults := Config{
		Concurrency:     100,
		ClaimAhead:      1000,
		ClaimBatch:      400,
		CompletionBatch: 500,
		PollInterval:    time.Second,
		LeaseDuration:   30 * time.Second,
		CrashBudget:     3,
		MaxPayloadBytes: 1 << 20,
		MaxChildren:     1000,
		StorageTimeout:  10 * time.Second,
		Retention:       Retention{Completed: 24 * time.Hour, Failed: 7 * 24 * time.Hour, Cancelled: 24 * time.Hour, Interval: time.Minute, Batch: 1000, Share: defaultCleanerShare},
	}
	with := func(f func(*Config)) Config {
		c := defaults
		f(&c)
		return c
	}
	cases := []struct {
		name string
		in   Config
		want Config
	}{
		{"Zero", Config{}, defaults},
		{"ClaimAheadNone", Config{ClaimAhead: -1}, with(func(c *Config) { c.ClaimAhead, c.ClaimBatch = 0, 100 })},
		{"ClaimAheadGiven", Config{ClaimAhead: 7}, with(func(c *Config) { c.ClaimAhead, c.ClaimBatch = 7, 107 })},
		{"ClaimAheadFollowsConcurrency", Config{Concurrency: 10}, with(func(c *Config) { c.Concurrency, c.ClaimAhead, c.ClaimBatch = 10, 100, 40 })},
		{"ClaimAheadCappedAt1000", Config{Concurrency: 1000}, with(func(c *Config) { c.Concurrency, c.ClaimAhead, c.ClaimBatch = 1000, 1000, 500 })},
		{"ClaimBatchCappedAt500", Config{Concurrency: 200}, with(func(c *Config) { c.Concurrency, c.ClaimAhead, c.ClaimBatch = 200, 1000, 500 })},
		{"ClaimBatchGiven", Config{ClaimBatch: 9}, with(func(c *Config) { c.ClaimBatch = 9 })},
		{"CrashBudgetNone", Config{CrashBudget: -1}, with(func(c *Config) { c.CrashBudget = 0 })},
		{"CrashBudgetGiven", Config{CrashBudget: 5}, with(func(c *Config) { c.CrashBudget = 5 })},
		{"DurationsGiven", Config{PollInterval: time.Millisecond, LeaseDuration: time.Minute, StorageTimeout: time.Second},
			with(func(c *Config) {
				c.PollInterval, c.LeaseDuration, c.StorageTimeout = time.Millisecond, time.Minute, time.Second
			})},
		{"LimitsGiven", Config{CompletionBatch: 1, MaxPayloadBytes: 1 << 10, MaxChildren: 1},
			with(func(c *Config) { c.CompletionBatch, c.MaxPayloadBytes, c.MaxChildren = 1, 1<<10, 1 })},
		{"ExecutorIDGiven", Config{ExecutorID: "host-1"}, with(func(c *Config) { c.ExecutorID = "host-1" })},
		{"RetentionForever", Config{Retention: Retention{Completed: -1, Failed: -1, Cancelled: -1}},
			with(func(c *Config) {
				c.Retention.Completed, c.Retention.Failed, c.Retention.Cancelled = keepForever, keepForever, keepForever
			})},
		{"RetentionGiven", Config{Retention: Retention{Completed: time.Hour, Interval: time.Second, Batch: 10, Share: 1}},
			with(func(c *Config) {
				c.Retention.Completed, c.Retention.Interval, c.Retention.Batch, c.Retention.Share = time.Hour, time.Second, 10, 1
			})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.in.withDefaults()
			if got.Logger != slog.Default() || got.Codec != (JSONCodec{}) || got.Clock == nil {
				t.Errorf("Logger, Codec, Clock: got %v, %v, %v; want slog.Default(), JSONCodec{}, clock.Real()", got.Logger, got.Codec, got.Clock)
			}
			got.Logger, got.Codec, got.Clock = nil, nil, nil
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("withDefaults(%+v)\n got %+v\nwant %+v", c.in, got, c.want)
			}
			if err := c.in.withDefaults().validate(); err != nil {
				t.Errorf("validate after withDefaults: %v", err)
			}
		})
	}

	t.Run("GivenKept", func(t *testing.T) {
		logger, fc := slog.New(slog.DiscardHandler), clock.NewFake(time.Unix(0, 0))
		got := Config{Logger: logger, Codec: stubCodec{}, Clock: fc}.withDefaults()
		if got.Logger != logger || got.Codec != (stubCodec{}) || got.Clock != fc {
			t.Errorf("a given Logger, Codec or Clock was replaced: %+v", got)
		}
	})

	// The special values are the only negative values: any other is out
	// of range, whatever withDefaults does with it.
	for _, c := range []Config{{ClaimAhead: -2}, {CrashBudget: -2}, {Retention: Retention{Failed: -2}},
		{Retention: Retention{Interval: time.Millisecond}}, {Retention: Retention{Batch: -1}},
		{Retention: Retention{Share: -0.5}}, {Retention: Retention{Share: 1.5}}, {Retention: Retention{Share: math.NaN()}}} {
		if err := c.withDefaults().validate(); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("validate(withDefaults(%+v)): got %v, want ErrInvalidOption", c, err)
		}
	}
}

// stubCodec is a Codec other than the default.
type stubCodec struct{ JSONCodec }
