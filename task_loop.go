package durable

import (
	"context"
	"fmt"
	"time"
)

// LoopOptions configures a looping task.
type LoopOptions struct {
	// MaxIterations bounds the iterations; when the last one is not done,
	// the loop completes with Done false. Range 1..1,000,000.
	MaxIterations int
	// Delay is the pause before each iteration after the first.
	Delay time.Duration
	// DelayFunc, if set, gives the pause before iteration n (n >= 1)
	// instead of Delay.
	DelayFunc func(iteration int) time.Duration
}

func (lo LoopOptions) delay(iteration int) time.Duration {
	d := lo.Delay
	if lo.DelayFunc != nil {
		d = lo.DelayFunc(iteration)
	}
	return max(d, 0)
}

// LoopResult is what one iteration of a looping task returns: Done with an
// output, or not done yet (Continue).
type LoopResult[O any] struct {
	Done   bool
	Output O
}

// Done ends a loop with out.
func Done[O any](out O) LoopResult[O] { return LoopResult[O]{Done: true, Output: out} }

// Continue asks for another iteration.
func Continue[O any]() LoopResult[O] { return LoopResult[O]{} }

// LoopOutput is a looping task's output.
type LoopOutput[O any] struct {
	Done       bool `json:"done"`
	Output     O    `json:"output"`
	Iterations int  `json:"iterations"`
}

type rawLoopOutput struct {
	Done       bool `json:"done"`
	Output     Raw  `json:"output"`
	Iterations int  `json:"iterations"`
}

// NewLoopTask registers a looping task: fn runs once per iteration with the
// same input until it returns Done or MaxIterations have run. Each
// iteration is an attempt of the same execution (its timeout and retry
// policy apply per iteration), so a loop costs one row however long it
// runs. RunInfo.Iteration tells fn which iteration it is. An iteration that
// fails after its retries fails the loop.
func NewLoopTask[I, O any](ex *Executor, id string, fn func(ctx context.Context, in I) (LoopResult[O], error), lo LoopOptions, opts ...TaskOption) (*Task[I, LoopOutput[O]], error) {
	if fn == nil {
		return nil, fmt.Errorf("%w: task %q: nil function", ErrInvalidTask, id)
	}
	if lo.MaxIterations < 1 || lo.MaxIterations > 1_000_000 {
		return nil, alsoIs(fmt.Errorf("%w: looping task %q: MaxIterations %d out of range 1..1000000", ErrInvalidTask, id, lo.MaxIterations), ErrInvalidOption)
	}
	if lo.Delay < 0 {
		return nil, alsoIs(fmt.Errorf("%w: looping task %q: negative Delay %s", ErrInvalidTask, id, lo.Delay), ErrInvalidOption)
	}
	d, err := newDef[I, LoopOutput[O]](ex, id, kindLoop, opts)
	if err != nil {
		return nil, err
	}
	d.loop = lo
	d.invoke = invoker(ex, d, fn, func(res LoopResult[O]) runResult {
		if !res.Done {
			return runResult{}
		}
		b, err := ex.encodePayload(res.Output, d.outputWhat)
		return runResult{output: b, done: true, err: err}
	})
	return register[I, LoopOutput[O]](ex, d)
}
