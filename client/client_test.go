package client_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/api"
	"github.com/durable-go/durable/client"
	"github.com/durable-go/durable/server"
	"github.com/durable-go/durable/storage/sqlite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const token = "client-test-token-0123456789"

type Order struct {
	ID    string `json:"id"`
	Items int    `json:"items"`
}

type Receipt struct {
	Order string `json:"order"`
	Total int    `json:"total"`
}

// serve runs the API on an executor over a real SQLite file, with the
// tasks "charge" (Order -> Receipt; an order without items fails) and
// "approval" (sleeping).
func serve(t *testing.T) *client.Client {
	t.Helper()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "client.db"), sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := durable.New(store, durable.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	durable.Must(durable.NewTask(ex, "charge", func(ctx context.Context, o Order) (Receipt, error) {
		if o.Items == 0 {
			return Receipt{}, durable.NonRetryable(errors.New("empty order"))
		}
		return Receipt{Order: o.ID, Total: 10 * o.Items}, nil
	}))
	durable.Must(durable.NewSleepingTask[string](ex, "approval", durable.WithTimeout(time.Hour)))
	if err := ex.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	h, err := server.New(ex, server.Config{Token: token, MaxWait: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	c, err := client.New(srv.URL, client.Options{Token: token, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ex.Shutdown(ctx)
		store.Close()
	})
	return c
}

func TestTypedTaskRun(t *testing.T) {
	c := serve(t)
	charge := client.NewTask[Order, Receipt](c, "charge")
	r, err := charge.Run(t.Context(), Order{ID: "A-1", Items: 3}, client.EnqueueOptions{Timeout: 5 * time.Second})
	if err != nil || r != (Receipt{Order: "A-1", Total: 30}) {
		t.Fatalf("Run: %+v, %v", r, err)
	}
	_, err = charge.Run(t.Context(), Order{ID: "A-2"}, client.EnqueueOptions{})
	var ee *durable.ExecutionError
	if !errors.As(err, &ee) || ee.Message != "empty order" {
		t.Fatalf("Run of a failing order: %v, want its ExecutionError", err)
	}
}

func TestEnqueueManyGetListCancelWake(t *testing.T) {
	c := serve(t)
	ctx := t.Context()
	ids, err := c.EnqueueMany(ctx,
		client.Item{Task: "charge", Input: Order{ID: "B-1", Items: 1}, Options: client.EnqueueOptions{Tags: []string{"batch"}}},
		client.Item{Task: "approval", SleepKey: "approve-B", Options: client.EnqueueOptions{Tags: []string{"batch"}}})
	if err != nil || len(ids) != 2 {
		t.Fatalf("EnqueueMany: %v, %v", ids, err)
	}
	x, err := c.Wait(ctx, ids[0])
	if r, rerr := client.Result[Receipt](x); err != nil || rerr != nil || r.Total != 10 {
		t.Fatalf("Wait: %+v, %v, %v", x, err, rerr)
	}
	page, err := c.List(ctx, client.ListOptions{Tag: "batch", OldestFirst: true})
	if err != nil || len(page.Executions) != 2 || page.Executions[0].ID != ids[0] {
		t.Fatalf("List: %+v, %v", page, err)
	}
	woken, err := c.Wake(ctx, "approve-B", "yes")
	if r, rerr := client.Result[string](woken); err != nil || rerr != nil || r != "yes" {
		t.Fatalf("Wake: %+v, %v, %v", woken, err, rerr)
	}
	if _, err := c.Cancel(ctx, ids[1]); !errors.Is(err, api.ErrFinished) {
		t.Fatalf("Cancel of a finished execution: %v, want api.ErrFinished", err)
	}
	sleeping, err := c.EnqueueSleeping(ctx, "approval", "approve-C", client.EnqueueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if x, err := c.Cancel(ctx, sleeping); err != nil || x.Status != durable.StatusCancelled {
		t.Fatalf("Cancel: %+v, %v", x, err)
	}
	counts, err := c.Stats(ctx)
	if err != nil || len(counts) != 3 { // approval cancelled and completed, charge completed
		t.Fatalf("Stats: %+v, %v", counts, err)
	}
}

func TestErrorsMatchDurablesSentinels(t *testing.T) {
	c := serve(t)
	ctx := t.Context()
	if _, err := c.Get(ctx, "nope"); !errors.Is(err, durable.ErrNotFound) {
		t.Errorf("Get of an unknown id: %v, want durable.ErrNotFound", err)
	}
	if _, err := c.Enqueue(ctx, "nope", 1, client.EnqueueOptions{}); !errors.Is(err, durable.ErrUnknownTask) {
		t.Errorf("Enqueue of an unknown task: %v, want durable.ErrUnknownTask", err)
	}
	_, err := c.Enqueue(ctx, "charge", map[string]any{"items": "many"}, client.EnqueueOptions{})
	var p *api.Problem
	if !errors.Is(err, durable.ErrInvalidInput) || !errors.As(err, &p) || p.Field != "input.items" {
		t.Errorf("Enqueue of a bad input: %v (%+v), want durable.ErrInvalidInput on input.items", err, p)
	}
	if _, err := c.Enqueue(ctx, "charge", Order{Items: 1}, client.EnqueueOptions{Timeout: time.Microsecond}); !errors.Is(err, durable.ErrInvalidOption) {
		t.Errorf("Enqueue with a bad timeout: %v, want durable.ErrInvalidOption", err)
	}
	anon, _ := client.New(c.BaseURL(), client.Options{})
	if _, err := anon.Get(ctx, "x"); !errors.Is(err, api.ErrUnauthorized) {
		t.Errorf("without token: %v, want api.ErrUnauthorized", err)
	}
	if _, err := client.New("localhost:8080", client.Options{}); err == nil {
		t.Error("New accepted a base URL without scheme")
	}
}

func TestWaitHonoursItsContext(t *testing.T) {
	c := serve(t)
	id, err := c.EnqueueSleeping(t.Context(), "approval", "never", client.EnqueueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if _, err := c.Wait(ctx, id); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait: %v, want the context's deadline", err)
	}
}
