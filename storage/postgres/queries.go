package postgres

import (
	_ "embed"
	"fmt"
	"strings"
	"text/template"

	"github.com/jackc/pgx/v5"

	"github.com/durable-go/durable/storage"
)

//go:embed queries.sql
var queriesSQL string

// queryTemplates is queries.sql parsed once.
var queryTemplates = template.Must(template.New("queries.sql").Parse(queriesSQL))

// queries holds every statement of one store, rendered for its schema.
type queries struct {
	// table is the schema-qualified table name.
	table string
	// data is what the statements were rendered with; List and Count
	// render theirs per filter shape (list.go), kept in shapes.
	data   queryData
	shapes shapeCache

	insert, insertPlain, insertPlainExtras              string
	complete, completeDone                              string
	completeWithChildren, completeParents               string
	cancelDescendants, cancel, exists, guard            string
	get, getBySleepKey, listChildren, activeKeyHolder   string
	claim, nextDue, heartbeat, release, recover, notify string
	claimSettings, genericPlans, customPlans, rescue    string
	indexPlans                                          string
	deleteSettings, deleteTrees, deleteExpiredSettings  string
	lead, leadGiveUp                                    string
	// claimListed and nextDueListed are claim and next_due for a list of
	// queues (@queues); the others read every queue.
	claimListed, nextDueListed     string
	registerControls, listControls string
	pauseControl, advanceControl   string
	// claimLimitLock, claimLimited and claimLimitYield claim a limited
	// queue; limitControl and limitedQueues set and read the limits
	// (limits.go).
	claimLimitLock, claimLimited, claimLimitYield, limitControl, limitedQueues string
	indexRunsLock, indexRuns                                                   string

	migrateLock, migrateSchema, migrateVersionTable  string
	migrateApplied, migrateSearchPath, migrateRecord string
	migrateHasVersionTable                           string
}

// queryData is what queries.sql is rendered with; see its header.
type queryData struct {
	T, Tags, Leases, Schema   string
	Controls                  string
	Now                       string
	Terminal, Waiting, Active string
	// First and Last are the priority levels (storage.PriorityFirst,
	// PriorityLast) the claim probes.
	First, Last    int
	Extras, Listed bool
	// Limited renders claim_update for claim_limited: its rows are
	// flagged in executions_limited_running_idx (migration 010).
	Limited bool
}

// newQueries renders the statements for schema, which must already be
// validated.
func newQueries(schema string) (*queries, error) {
	quoted := pgx.Identifier{schema}.Sanitize()
	data := queryData{
		T:        quoted + ".executions",
		Tags:     quoted + ".execution_tags",
		Leases:   quoted + ".leases",
		Controls: quoted + ".controls",
		First:    storage.PriorityFirst,
		Last:     storage.PriorityLast,
		Schema:   quoted,
		Now:      "coalesce(@now::timestamptz, statement_timestamp())",
		Terminal: "('completed', 'failed', 'timed_out', 'children_failed', 'finalize_failed', 'cancelled')",
		Waiting:  "('waiting_for_children', 'waiting_for_finalize')",
		Active:   "('running', 'waiting_for_children', 'waiting_for_finalize')",
	}
	q := &queries{table: data.T, data: data}
	targets := map[string]*string{
		"insert": &q.insert, "insert_plain": &q.insertPlain, "complete": &q.complete, "complete_done": &q.completeDone,
		"complete_with_children": &q.completeWithChildren, "complete_parents": &q.completeParents,
		"cancel_descendants": &q.cancelDescendants, "cancel": &q.cancel, "exists": &q.exists, "guard": &q.guard,
		"get": &q.get, "get_by_sleep_key": &q.getBySleepKey, "active_key_holder": &q.activeKeyHolder, "list_children": &q.listChildren,
		"claim": &q.claim, "rescue": &q.rescue, "next_due": &q.nextDue, "heartbeat": &q.heartbeat,
		"release": &q.release, "recover": &q.recover, "notify": &q.notify, "claim_settings": &q.claimSettings, "generic_plans": &q.genericPlans, "index_plans": &q.indexPlans,
		"custom_plans": &q.customPlans, "delete_settings": &q.deleteSettings, "delete_expired_settings": &q.deleteExpiredSettings, "delete": &q.deleteTrees, "lead": &q.lead, "lead_give_up": &q.leadGiveUp,
		"register_controls": &q.registerControls, "list_controls": &q.listControls,
		"pause_control": &q.pauseControl, "advance_control": &q.advanceControl,
		"claim_limit_lock": &q.claimLimitLock, "index_runs_lock": &q.indexRunsLock, "index_runs": &q.indexRuns, "claim_limit_yield": &q.claimLimitYield, "limit_control": &q.limitControl, "limited_queues": &q.limitedQueues, "migrate_lock": &q.migrateLock, "migrate_schema": &q.migrateSchema,
		"migrate_version_table": &q.migrateVersionTable, "migrate_has_version_table": &q.migrateHasVersionTable, "migrate_applied": &q.migrateApplied,
		"migrate_search_path": &q.migrateSearchPath, "migrate_record": &q.migrateRecord,
	}
	for name, dst := range targets {
		var err error
		if *dst, err = render(name, data); err != nil {
			return nil, err
		}
	}
	extras, listed, lim := data, data, data
	extras.Extras, listed.Listed, lim.Limited = true, true, true
	for name, r := range map[string]struct {
		dst  *string
		data queryData
	}{
		"insert_plain":  {&q.insertPlainExtras, extras},
		"claim":         {&q.claimListed, listed},
		"next_due":      {&q.nextDueListed, listed},
		"claim_limited": {&q.claimLimited, lim},
	} {
		var err error
		if *r.dst, err = render(name, r.data); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// render renders the statement name with data.
func render(name string, data queryData) (string, error) {
	var b strings.Builder
	if err := queryTemplates.ExecuteTemplate(&b, name, data); err != nil {
		return "", fmt.Errorf("postgres: render query %s: %w", name, err)
	}
	return b.String(), nil
}
