// Package dashboard is durable's web dashboard: an http.Handler that shows
// a store's executions in a browser and acts on them.
//
//	d, err := dashboard.New(ex, dashboard.Config{Token: token, Events: store})
//	defer d.Close()
//	mux.Handle("/", d) // or, under a prefix: Config.Prefix "/durable", mux.Handle("/durable/", d)
//	log.Print("dashboard: ", d.LoginURL("http://localhost:8080"))
//
// The pages are rendered on the server (html/template: everything from
// the store is escaped) with a small script for the live updates, themes
// and keys; the templates, style sheet and script are embedded in the
// binary, and nothing is fetched from the network at run time.
//
//   - The overview: counts by status and by task, what finished and failed
//     in the last hour, how long the oldest due execution has waited, and
//     the executors that hold running executions with their last
//     heartbeat (derived from their leases: the store keeps no list of
//     idle executors).
//   - The list: filters by status, task, tag, idempotency key and creation
//     time, search by id or key, keyset paging (Executor.List's cursors).
//   - An execution's page: status, input and output (JSON drawn as a
//     collapsible tree), the error with its stack, every attempt, the
//     timeline, the ancestors up to the root, and the children in order:
//     a strip of one cell per child and a table whose rows past the first
//     50 are folded, so that a 1,000-child fan-out stays readable.
//   - Actions, each confirmed on a page of its own: cancel, retry, wake a
//     sleeping execution with an output or an error, delete a finished
//     tree.
//
// # Live updates
//
// With Config.Events set (the executor's store), the pages update through
// server-sent events. One subscription per dashboard turns the store's
// events into at most one query per Config.LiveInterval (1s by default),
// whatever the number of open pages, and none while no page is open; the
// result is rendered once and sent to every page. What is pushed: the new
// status of executions that finished, the newest executions (inserted at
// the top of an unfiltered or simply filtered first page), and the
// counts (at most every 5 intervals, and at most a tenth of the time:
// counting reads every row; the overview pages share the same counts). Not pushed: a ready execution
// becoming running (the stores publish no event for a claim; a reload
// shows it), and changes on pages other than the newest executions.
// Stores publish the events of other processes too (PostgreSQL with
// notifications on, SQLite through its events table).
//
// # Safety
//
// Every page needs a login with Config.Token (the same token as the HTTP
// API's): the login page, or LoginURL's one-click link, sets a signed
// session cookie (HttpOnly, SameSite=Lax, Secure over TLS) that lasts
// Config.SessionTTL. Sessions are not stored: changing the token ends
// them all. A script may send the token as a bearer token instead, as the
// HTTP API's clients do. Actions are POST forms that carry a CSRF token derived from
// the session, and cross-origin posts are refused
// (http.CrossOriginProtection). The responses carry a Content-Security-
// Policy that allows the dashboard's own script only. Config.ReadOnly
// hides the actions and refuses them with 403; Config.NoAuth serves
// without login, for a dashboard behind the application's own
// authentication (actions keep their CSRF token).
package dashboard
