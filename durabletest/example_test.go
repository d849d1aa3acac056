package durabletest_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/durabletest"
)

// A test of a workflow that retries with hours of backoff, then enqueues a
// follow-up a day later: RunUntilIdle moves the fake clock from one due
// time to the next, so the test takes milliseconds and needs no sleep and
// no guessed step of time. In a test, t is the test's *testing.T.
func Example() {
	t := &exampleT{} // in a test: func TestCheckout(t *testing.T)
	defer t.finish()
	ctx := context.Background() // in a test: t.Context()

	env := durabletest.New(t)
	ex := env.Executor()
	review := durable.Must(durable.NewTask(ex, "ask_for_review",
		func(ctx context.Context, order string) (string, error) {
			fmt.Printf("review request for %s at %s\n", order, env.Elapsed())
			return "sent", nil
		}))
	charge := durable.Must(durable.NewTask(ex, "charge_card",
		func(ctx context.Context, order string) (string, error) {
			info, _ := durable.Info(ctx)
			fmt.Printf("charge attempt %d at %s\n", info.Attempt+1, env.Elapsed())
			if info.Attempt < 2 {
				return "", errors.New("payment service unavailable")
			}
			if _, err := review.Enqueue(ctx, order, durable.WithDelay(24*time.Hour)); err != nil {
				return "", err
			}
			return "receipt for " + order, nil
		},
		durable.WithRetry(durable.RetryPolicy{MaxRetries: 5, BaseDelay: time.Hour, Multiplier: 2})))

	h, err := charge.Enqueue(ctx, "B-18")
	if err != nil {
		t.Fatalf("%v", err)
	}
	if err := env.RunUntilIdle(ctx); err != nil {
		t.Fatalf("%v", err)
	}

	receipt := durabletest.RequireCompleted(t, h)
	x := durabletest.RequireOutcome(t, h, durabletest.Outcome{Status: durable.StatusCompleted, Attempts: 3})
	fmt.Println(receipt, "after", x.Attempt, "retries")
	followUp := durabletest.RequireEnqueued(t, env, review, "B-18")
	fmt.Println("review request:", followUp.Execution.Status, followUp.Execution.Output)
	fmt.Println("fake time passed:", env.Elapsed())
	// Output:
	// charge attempt 1 at 0s
	// charge attempt 2 at 1h0m0s
	// charge attempt 3 at 3h0m0s
	// review request for B-18 at 27h0m0s
	// receipt for B-18 after 2 retries
	// review request: completed sent
	// fake time passed: 27h0m0s
}

// exampleT stands for the *testing.T an example does not have: it panics on
// a failure, drops the engine's logs (they would mix with the output), and
// runs its cleanups (the env's shutdown) at finish.
type exampleT struct {
	failed   bool
	cleanups []func()
}

func (t *exampleT) Helper()                   {}
func (t *exampleT) Cleanup(f func())          { t.cleanups = append(t.cleanups, f) }
func (t *exampleT) Failed() bool              { return t.failed }
func (t *exampleT) Logf(string, ...any)       {}
func (t *exampleT) Errorf(f string, a ...any) { t.failed = true; fmt.Printf("FAIL: "+f+"\n", a...) }
func (t *exampleT) Fatalf(f string, a ...any) { t.failed = true; panic(fmt.Sprintf(f, a...)) }

func (t *exampleT) finish() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}
