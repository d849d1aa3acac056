// Command peers runs durable's standard benchmark workloads on three peer
// engines, River (github.com/riverqueue/river), DBOS Transact
// (github.com/dbos-inc/dbos-transact-golang) and go-workflows
// (github.com/cschleiden/go-workflows, on its MySQL backend), and prints the
// same JSON lines as `durable bench`, so the numbers can be compared side by
// side.
//
// It lives in its own Go module so that durable's users never download River,
// DBOS or go-workflows. Run it from this directory:
//
//	go run . --engine river --workload all --store sqlite
//	go run . --engine dbos --workload latency --store postgres --runs 3 --json
//	go run . --engine goworkflows --workload all --store mysql
//
// Workloads (see README.md for the exact definitions and the settings used):
//
//   - throughput: enqueue n no-op jobs ({"i":n}) with no worker running, then
//     start workers and time until all n are completed in the store.
//   - latency: sequential enqueue-and-wait rounds on an idle started worker.
//   - fanout: one parent spawns n children (child i returns i) and sums them.
//   - recovery: a worker process is SIGKILLed mid-run; a new one finishes the
//     jobs; reports the time to recover, lost jobs and double executions.
//
// Every run uses a fresh store: a new SQLite file (WAL, synchronous=NORMAL),
// a new PostgreSQL schema or a new MySQL database, dropped afterwards.
package main
