package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage/sqlite"
)

// Enqueue inside the application's own transaction: the order and the
// execution that mails its receipt are committed together, or neither is.
// The transaction runs on the store's own write connection (SQLite has
// one writer at a time), so the application's tables live in the same
// file.
func ExampleStore_WithTx() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "durable-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := sqlite.Open(ctx, filepath.Join(dir, "app.db"), sqlite.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	ex, err := durable.New(store, durable.Config{})
	if err != nil {
		log.Fatal(err)
	}
	receipt := durable.Must(durable.NewTask(ex, "receipt",
		func(ctx context.Context, order string) (string, error) {
			return "receipt for " + order + " sent", nil
		}))
	if err := ex.Start(ctx); err != nil {
		log.Fatal(err)
	}

	err = store.WithTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE orders (id TEXT PRIMARY KEY, total INTEGER)`)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}

	var h *durable.Handle[string]
	err = store.WithTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO orders (id, total) VALUES (?, ?)`, "B-18", 4200); err != nil {
			return err
		}
		h, err = receipt.EnqueueTx(ctx, store.Tx(tx), "B-18", durable.WithIdempotencyKey("receipt-B-18"))
		return err // an error rolls back the order and the enqueue
	})
	if err != nil {
		log.Fatal(err)
	}
	x, err := h.Wait(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(x.Status, x.Output)

	if err := ex.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// completed receipt for B-18 sent
}
