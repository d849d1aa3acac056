package mysql

import (
	_ "embed"
	"fmt"
	"strconv"
	"strings"
	"text/template"

	"github.com/durable-go/durable/storage"
)

//go:embed queries.sql
var queriesSQL string

// queryTemplates is queries.sql parsed once.
var queryTemplates = template.Must(template.New("queries.sql").Parse(queriesSQL))

// nowSQL is the server's clock in microseconds since the epoch, whatever
// the session's time zone (arithmetic on UTC_TIMESTAMP, not
// UNIX_TIMESTAMP, which reads the session's zone). MySQL evaluates it once
// per statement.
const nowSQL = "TIMESTAMPDIFF(MICROSECOND, '1970-01-01', UTC_TIMESTAMP(6))"

// queryData is what queries.sql is rendered with; see its header.
type queryData struct {
	T, Tags, Leases, Events, Versions string
	Controls                          string
	Due, Running                      string
	Levels                            string
	Now                               string
	Terminal, Active                  string
}

// queries holds every statement of one store, rendered for its prefix.
type queries struct {
	data queryData

	now, get, getBySleepKey, exists, listChildren            string
	insertTags, lock, lockChildren                           string
	activeKeyHolder                                          string
	claimPick, claimQueues, claim, claimErrors               string
	claimPickKey, claimPickKeys                              string
	rescuePick, rescue                                       string
	controlRegister, controlList, controlLock                string
	controlPause, controlAdvance, controlMark                string
	controlLimitLock, controlLimit, limitedQueues            string
	runningCount, claimPickLapsed, claimPickLimited          string
	claimPickLimitedKey, runningKeyCounts, controlRateWindow string
	indexRunsLock, indexRuns, controlRunsIndexed             string
	nextDue, nextDueLimited, nextDueWindows                  string
	heartbeatLock, heartbeat, heartbeatBusy                  string
	releaseLock, recoverLock, release, recoverRows           string
	eventInsert, eventRead, eventLast, eventPrune            string
	leadLock, leadInsert, leadUpdate, leadGiveUp             string
	migrateLock, migrateUnlock, migrateVersionTable          string
	migrateHasVersionTable, migrateApplied, migrateRecord    string
}

// newQueries renders the statements for prefix, which must be valid.
func newQueries(prefix string) (*queries, error) {
	data := queryData{
		T: prefix + "executions", Tags: prefix + "execution_tags", Leases: prefix + "leases",
		Events: prefix + "events", Versions: prefix + "schema_version",
		Controls: prefix + "controls",
		Due:      prefix + "executions_queue_due",
		Running:  prefix + "executions_running",
		Levels:   levelsSQL(),
		Now:      "coalesce(?, " + nowSQL + ")",
		Terminal: "('completed', 'failed', 'timed_out', 'children_failed', 'finalize_failed', 'cancelled')",
		Active:   "('running', 'waiting_for_children', 'waiting_for_finalize')",
	}
	q := &queries{data: data}
	targets := map[string]*string{
		"now": &q.now, "get": &q.get, "get_by_sleep_key": &q.getBySleepKey, "exists": &q.exists,
		"list_children": &q.listChildren, "insert_tags": &q.insertTags, "active_key_holder": &q.activeKeyHolder,
		"lock": &q.lock, "lock_children": &q.lockChildren,
		"claim_pick": &q.claimPick, "claim_pick_key": &q.claimPickKey, "claim_pick_keys": &q.claimPickKeys, "claim_queues": &q.claimQueues, "claim": &q.claim, "claim_errors": &q.claimErrors,
		"rescue_pick": &q.rescuePick, "rescue": &q.rescue, "next_due": &q.nextDue, "next_due_limited": &q.nextDueLimited, "next_due_windows": &q.nextDueWindows,
		"heartbeat_lock": &q.heartbeatLock, "heartbeat": &q.heartbeat, "heartbeat_busy": &q.heartbeatBusy,
		"release_lock": &q.releaseLock, "recover_lock": &q.recoverLock, "release": &q.release, "recover": &q.recoverRows,
		"event_insert": &q.eventInsert, "event_read": &q.eventRead, "event_last": &q.eventLast, "event_prune": &q.eventPrune,
		"lead_lock": &q.leadLock, "lead_insert": &q.leadInsert, "lead_update": &q.leadUpdate, "lead_give_up": &q.leadGiveUp,
		"migrate_lock": &q.migrateLock, "migrate_unlock": &q.migrateUnlock, "migrate_version_table": &q.migrateVersionTable,
		"migrate_has_version_table": &q.migrateHasVersionTable, "migrate_applied": &q.migrateApplied,
		"migrate_record":   &q.migrateRecord,
		"control_register": &q.controlRegister, "control_list": &q.controlList, "control_lock": &q.controlLock,
		"control_pause": &q.controlPause, "control_advance": &q.controlAdvance, "control_mark": &q.controlMark,
		"control_limit_lock": &q.controlLimitLock, "control_limit": &q.controlLimit, "limited_queues": &q.limitedQueues,
		"running_count": &q.runningCount, "claim_pick_lapsed": &q.claimPickLapsed, "claim_pick_limited": &q.claimPickLimited,
		"claim_pick_limited_key": &q.claimPickLimitedKey, "running_key_counts": &q.runningKeyCounts, "control_rate_window": &q.controlRateWindow,
		"index_runs_lock": &q.indexRunsLock, "index_runs": &q.indexRuns, "control_runs_indexed": &q.controlRunsIndexed,
	}
	for name, dst := range targets {
		var b strings.Builder
		if err := queryTemplates.ExecuteTemplate(&b, name, data); err != nil {
			return nil, fmt.Errorf("mysql: render query %s: %w", name, err)
		}
		*dst = b.String()
	}
	return q, nil
}

// levelsSQL is the SQL list of every priority, "(1, 2, ..., 9)": a claim
// reads one range of the claim index per level.
func levelsSQL() string {
	levels := make([]string, 0, storage.PriorityLevels)
	for p := storage.PriorityFirst; p <= storage.PriorityLast; p++ {
		levels = append(levels, strconv.Itoa(p))
	}
	return "(" + strings.Join(levels, ", ") + ")"
}

// placeholders is "(?, ?, ...)" with n marks.
func placeholders(n int) string {
	if n <= 0 {
		return "(NULL)"
	}
	return "(" + strings.Repeat("?, ", n-1) + "?)"
}

// expand replaces :list1, :list2, ... in sql with lists of n[0], n[1], ...
// placeholders.
func expand(sql string, n ...int) string {
	for i, k := range n {
		sql = strings.Replace(sql, fmt.Sprintf(":list%d", i+1), placeholders(k), 1)
	}
	return sql
}

// stringArgs converts ss to arguments.
func stringArgs(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// int64Args converts vs to arguments.
func int64Args(vs []int64) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

// withInt64s replaces :list1 in sql with the list of vs as literals,
// "(1, 2, ...)": no argument to convert, nor for the driver to
// interpolate, per value.
func withInt64s(sql string, vs []int64) string {
	b := make([]byte, 0, 2+len(vs)*12)
	b = append(b, '(')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = strconv.AppendInt(b, v, 10)
	}
	return strings.Replace(sql, ":list1", string(append(b, ')')), 1)
}

// withStrings replaces :list1 in sql with the list of ss as hexadecimal
// literals, "(X'...', ...)" (the same bytes whatever the session's
// character set), as withInt64s does for integers.
func withStrings(sql string, ss []string) string {
	n := 2
	for _, s := range ss {
		n += 2*len(s) + 5
	}
	b := make([]byte, 0, n)
	b = append(b, '(')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = appendHexString(b, s)
	}
	return strings.Replace(sql, ":list1", string(append(b, ')')), 1)
}

// appendHexString is appendHex of the bytes of s.
func appendHexString(b []byte, s string) []byte {
	if s == "" {
		return append(b, "''"...)
	}
	const digits = "0123456789abcdef"
	b = append(b, "X'"...)
	for i := 0; i < len(s); i++ {
		b = append(b, digits[s[i]>>4], digits[s[i]&15])
	}
	return append(b, '\'')
}

// replaceValues replaces :values in sql with text.
func replaceValues(sql, text string) string {
	return strings.Replace(sql, ":values", text, 1)
}
