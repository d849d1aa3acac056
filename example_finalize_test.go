package durable_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage/memory"
)

// A parent task with a finalize: the finalize runs once every child has
// finished, successfully or not, and gets every child's result in
// declaration order. Its output is the parent's output.
func ExampleNewParentTaskWithFinalize() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	ex, err := durable.New(store, durable.Config{})
	if err != nil {
		log.Fatal(err)
	}

	fetch := durable.Must(durable.NewTask(ex, "fetch_page",
		func(ctx context.Context, url string) (int, error) {
			if strings.HasSuffix(url, "/missing") {
				return 0, durable.NonRetryable(errors.New("404 not found"))
			}
			return len(url), nil
		}))
	summarize := durable.Must(durable.NewTask(ex, "summarize",
		func(ctx context.Context, in durable.FinalizeInput[string]) (string, error) {
			var parts []string
			for _, c := range in.Children {
				if c.Status != durable.StatusCompleted {
					parts = append(parts, fmt.Sprintf("#%d %s (%s)", c.Index, c.Status, c.Error.Message))
					continue
				}
				size, err := durable.ChildOutput[int](c)
				if err != nil {
					return "", err
				}
				parts = append(parts, fmt.Sprintf("#%d %d bytes", c.Index, size))
			}
			return in.Output + ": " + strings.Join(parts, ", "), nil
		}))
	crawl := durable.Must(durable.NewParentTaskWithFinalize(ex, "crawl",
		func(ctx context.Context, site string) (durable.Spawn[string], error) {
			return durable.Spawn[string]{Output: site, Children: []durable.Child{
				durable.ChildOf(fetch, site+"/"),
				durable.ChildOf(fetch, site+"/missing"),
				durable.ChildOf(fetch, site+"/about"),
			}}, nil
		},
		summarize))

	if err := ex.Start(ctx); err != nil {
		log.Fatal(err)
	}
	h, err := crawl.Enqueue(ctx, "example.com")
	if err != nil {
		log.Fatal(err)
	}
	x, err := h.Wait(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(x.Status)
	fmt.Println(x.Output)

	if err := ex.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// completed
	// example.com: #0 12 bytes, #1 failed (404 not found), #2 17 bytes
}
