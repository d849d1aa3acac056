package durable_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage/memory"
)

// A parent task fans out to children that run in parallel; its output
// carries its own output and every child's result, in declaration order.
func ExampleNewParentTask() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	ex, err := durable.New(store, durable.Config{})
	if err != nil {
		log.Fatal(err)
	}

	wordLength := durable.Must(durable.NewTask(ex, "word_length",
		func(ctx context.Context, word string) (int, error) { return len(word), nil }))
	split := durable.Must(durable.NewParentTask(ex, "split_words",
		func(ctx context.Context, text string) (durable.Spawn[int], error) {
			words := strings.Fields(text)
			children := make([]durable.Child, len(words))
			for i, w := range words {
				children[i] = durable.ChildOf(wordLength, w)
			}
			return durable.Spawn[int]{Output: len(words), Children: children}, nil
		}))

	if err := ex.Start(ctx); err != nil {
		log.Fatal(err)
	}
	h, err := split.Enqueue(ctx, "durable tasks survive crashes")
	if err != nil {
		log.Fatal(err)
	}
	x, err := h.Wait(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(x.Status, "words:", x.Output.Output)
	for _, c := range x.Output.Children {
		n, err := durable.ChildOutput[int](c)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(c.Index, c.TaskID, c.Status, n)
	}

	if err := ex.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// completed words: 4
	// 0 word_length completed 7
	// 1 word_length completed 5
	// 2 word_length completed 7
	// 3 word_length completed 7
}
