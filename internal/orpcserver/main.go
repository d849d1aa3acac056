// Command orpcserver is the durable server the Node test of the oRPC
// procedures (.ci/orpc) runs against: an executor on a SQLite file with
// the tasks the test calls, served by package server on 127.0.0.1 at a
// free port, which it prints ("listening http://127.0.0.1:PORT") before
// serving until its standard input closes or it is signalled.
//
//	orpcserver -db PATH -token TOKEN [-callee URL -secret SECRET]
//
// Tasks: greet ({name} -> "hello, <name>"), approval (sleeping, output
// any JSON), fail (fails with its input as the message) and, with
// -callee, double ({n} -> {n}, a remote task calling the oRPC procedure
// "double" at the callee URL).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/remote"
	"github.com/durable-go/durable/server"
	"github.com/durable-go/durable/storage/sqlite"
)

type greeting struct {
	Name string `json:"name"`
}

type number struct {
	N int `json:"n"`
}

func main() {
	db := flag.String("db", "", "SQLite file")
	token := flag.String("token", "", "bearer token")
	callee := flag.String("callee", "", "base URL of the oRPC handler the remote task calls")
	secret := flag.String("secret", "", "the remote task's signing secret")
	flag.Parse()
	if err := run(*db, *token, *callee, *secret); err != nil {
		log.Fatal(err)
	}
}

func run(db, token, callee, secret string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	store, err := sqlite.Open(ctx, db, sqlite.Config{})
	if err != nil {
		return err
	}
	defer store.Close()
	ex, err := durable.New(store, durable.Config{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	if err := register(ex, callee, secret); err != nil {
		return err
	}
	if err := ex.Start(ctx); err != nil {
		return err
	}
	h, err := server.New(ex, server.Config{Token: token})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := h.HTTPServer(ln.Addr().String())
	go srv.Serve(ln)
	fmt.Printf("listening http://%s\n", ln.Addr())
	go func() { io.Copy(io.Discard, os.Stdin); stop() }() // the test closes stdin to stop it
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	return ex.Shutdown(sctx)
}

func register(ex *durable.Executor, callee, secret string) error {
	if _, err := durable.NewTask(ex, "greet", func(ctx context.Context, g greeting) (string, error) {
		return "hello, " + g.Name, nil
	}); err != nil {
		return err
	}
	if _, err := durable.NewTask(ex, "fail", func(ctx context.Context, msg string) (int, error) {
		return 0, durable.NonRetryable(errors.New(msg))
	}); err != nil {
		return err
	}
	if _, err := durable.NewSleepingTask[any](ex, "approval", durable.WithTimeout(time.Hour)); err != nil {
		return err
	}
	if callee == "" {
		return nil
	}
	_, err := remote.NewTask[number, number](ex, "double", remote.Config{URL: callee, Procedure: "double", Secret: []byte(secret)},
		durable.WithTimeout(10*time.Second), durable.WithRetry(durable.RetryPolicy{MaxRetries: 3, BaseDelay: 10 * time.Millisecond}))
	return err
}
