package postgres_test

import (
	"context"
	"log"
	"os"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/postgres"
)

// Open a store in its own schema, on the database's clock (the default).
func ExampleOpen() {
	ctx := context.Background()
	store, err := postgres.Open(ctx, os.Getenv("DATABASE_URL"), postgres.Config{Schema: "jobs"})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
}

// Enqueue inside the application's own transaction: the execution exists
// if and only if the transaction commits.
func ExampleStore_InsertTx() {
	ctx := context.Background()
	store, err := postgres.Open(ctx, os.Getenv("DATABASE_URL"), postgres.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	tx, err := store.Pool().Begin(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if _, err := tx.Exec(ctx, "UPDATE orders SET state = 'paid' WHERE id = $1", 42); err != nil {
		log.Fatal(err)
	}
	err = store.InsertTx(ctx, tx, storage.InsertParams{Executions: []storage.Execution{{
		ID: "send-receipt-42", TaskID: "send_receipt", Status: storage.StatusReady, Input: []byte(`{"order":42}`),
	}}})
	if err != nil {
		log.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		log.Fatal(err)
	}
}
