package server_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/client"
	"github.com/durable-go/durable/server"
	"github.com/durable-go/durable/storage/sqlite"
)

// Both sides of server mode: the executor process serves the API, and a
// client app enqueues over HTTP and waits for the result.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "durable-example")
	defer os.RemoveAll(dir)

	// The executor process: a store, an executor, its tasks, the API.
	store, err := sqlite.Open(ctx, filepath.Join(dir, "app.db"), sqlite.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	ex, err := durable.New(store, durable.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	type Greeting struct {
		Name string `json:"name"`
	}
	durable.Must(durable.NewTask(ex, "greet", func(ctx context.Context, g Greeting) (string, error) {
		return "hello, " + g.Name, nil
	}, durable.WithTimeout(10*time.Second)))
	if err := ex.Start(ctx); err != nil {
		log.Fatal(err)
	}
	const token = "example-token-0123456789"
	h, err := server.New(ex, server.Config{Token: token})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := h.HTTPServer(ln.Addr().String())
	go srv.Serve(ln)

	// The client app: another process, which knows the task by its id.
	c, err := client.New("http://"+ln.Addr().String(), client.Options{Token: token})
	if err != nil {
		log.Fatal(err)
	}
	greet := client.NewTask[Greeting, string](c, "greet")
	id, err := greet.Enqueue(ctx, Greeting{Name: "Ada"}, client.EnqueueOptions{IdempotencyKey: "greet-ada"})
	if err != nil {
		log.Fatal(err)
	}
	x, err := c.Wait(ctx, id)
	if err != nil {
		log.Fatal(err)
	}
	out, err := client.Result[string](x)
	fmt.Println(x.Status, out, err)

	_, err = c.Enqueue(ctx, "greet", map[string]any{"name": 42}, client.EnqueueOptions{})
	fmt.Println(err)

	srv.Shutdown(ctx)
	ex.Shutdown(ctx)
	// Output:
	// completed hello, Ada <nil>
	// durable api: 400 Invalid input: input.name: durable: invalid input: task greet: input field name: a JSON number cannot be a string
}

var _ http.Handler = (*server.Handler)(nil)
