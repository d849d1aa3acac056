package dashboard_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/dashboard"
	"github.com/durable-go/durable/storage/sqlite"
)

// The dashboard mounted under /durable/ in an application's own server,
// beside its other routes.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "dashboard-example")
	defer os.RemoveAll(dir)
	store, err := sqlite.Open(ctx, filepath.Join(dir, "app.db"), sqlite.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	ex, err := durable.New(store, durable.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}

	d, err := dashboard.New(ex, dashboard.Config{
		Token:  "a-long-random-secret-token", // the API's token, from the configuration
		Events: store,                        // live updates
		Prefix: "/durable",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	mux := http.NewServeMux()
	mux.Handle("/durable/", d)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "the application") })

	srv := httptest.NewServer(mux)
	defer srv.Close()
	fmt.Println("log in at", d.LoginURL("http://localhost:8080"))
	res, err := http.Get(srv.URL + "/durable/executions")
	if err != nil {
		log.Fatal(err)
	}
	res.Body.Close()
	fmt.Println(res.Request.URL.Path) // not logged in: the login page
	// Output:
	// log in at http://localhost:8080/durable/login?token=a-long-random-secret-token
	// /durable/login
}
