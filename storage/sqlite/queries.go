package sqlite

import (
	_ "embed"
	"fmt"
	"strings"
)

//go:embed queries.sql
var queriesSQL string

// queries holds the sections of queries.sql by name, with {{columns}}
// already expanded.
var queries = mustParseQueries(queriesSQL)

// insertColumns lists the columns an insert may set: those of the columns
// section but seq, in order.
var insertColumns = mustInsertColumns(queries["columns"])

func mustInsertColumns(cols string) []string {
	var out []string
	for _, c := range strings.Split(cols, ",") {
		if c = strings.TrimSpace(c); c != "seq" {
			out = append(out, c)
		}
	}
	if len(out) != insertWidth {
		panic(fmt.Sprintf("sqlite: queries.sql: %d insert columns, want %d", len(out), insertWidth))
	}
	if out[queueColumn] != "queue" || out[priorityColumn] != "priority" {
		panic("sqlite: queries.sql: the insert columns do not have queue and priority where insertValues puts them")
	}
	return out
}

// query returns the named statement of queries.sql. A missing name is a
// programming error.
func query(name string) string {
	q, ok := queries[name]
	if !ok {
		panic("sqlite: no query named " + name + " in queries.sql")
	}
	return q
}

// maxMergedQueues is the most queues of one priority that a claim merges
// with claim_queues (claimQueuesQuery); a priority in more queues is
// merged by claim_priority, through JSON.
const maxMergedQueues = 4

// claimQueuesNames[k] names claim_queues for k queues (2..maxMergedQueues),
// made once: a claim picks its statement by it.
var claimQueuesNames [maxMergedQueues + 1]string

func init() {
	for k := 2; k <= maxMergedQueues; k++ {
		claimQueuesNames[k] = fmt.Sprintf("claim_queues%d", k)
		queries[claimQueuesNames[k]] = claimQueuesQuery(k)
	}
	queries["claim_priority"] = strings.Replace(query("claim_queues"), "{{arms}}", query("claim_priority_arms"), 1)
}

// claimQueuesName is the name of claim_queues for k queues.
func claimQueuesName(k int) string { return claimQueuesNames[k] }

// claimQueuesQuery returns claim_queues with one arm per queue of k, the
// queues taken from parameters ?5 to ?(4+k).
func claimQueuesQuery(k int) string {
	arms := make([]string, k)
	for i := range arms {
		arms[i] = strings.ReplaceAll(query("claim_queue_arm"), "{{q}}", fmt.Sprint(5+i))
	}
	return strings.Replace(query("claim_queues"), "{{arms}}", strings.Join(arms, "\n\tUNION ALL\n\t"), 1)
}

// withRows expands {{rows}} in q into n tuples of width parameters each.
func withRows(q string, n, width int) string {
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?,", width), ",") + ")"
	rows := strings.TrimSuffix(strings.Repeat(tuple+",", n), ",")
	return strings.Replace(q, "{{rows}}", rows, 1)
}

// mustParseQueries splits the file into "-- name: X" sections. Comment lines
// inside a section are dropped. It panics on a malformed file: the file is
// embedded, so that can only be a programming error, and a test parses it.
func mustParseQueries(src string) map[string]string {
	out, err := parseQueries(src)
	if err != nil {
		panic(err)
	}
	return out
}

func parseQueries(src string) (map[string]string, error) {
	raw := map[string]string{}
	var name string
	var body []string
	flush := func() {
		if name != "" {
			raw[name] = strings.TrimSpace(strings.Join(body, "\n"))
		}
	}
	for _, line := range strings.Split(src, "\n") {
		if n, ok := strings.CutPrefix(line, "-- name: "); ok {
			flush()
			name, body = strings.TrimSpace(n), nil
			if _, dup := raw[name]; dup {
				return nil, fmt.Errorf("sqlite: queries.sql: query %q defined twice", name)
			}
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		body = append(body, line)
	}
	flush()
	for _, part := range fragments {
		if _, ok := raw[part]; !ok {
			return nil, fmt.Errorf("sqlite: queries.sql: no %s section", part)
		}
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		if v == "" {
			return nil, fmt.Errorf("sqlite: queries.sql: query %q is empty", k)
		}
		for _, part := range fragments {
			v = strings.ReplaceAll(v, "{{"+part+"}}", raw[part])
		}
		out[k] = v
	}
	return out, nil
}

// fragments are the sections of queries.sql that other sections include
// as {{name}}.
// A fragment may include the ones after it.
var fragments = []string{"expired_match", "claim_body", "next_due_body", "queue_scan", "unpaused", "not_paused", "limited", "next_level_scan", "level_scan", "columns", "mutable_columns", "done_set"}
