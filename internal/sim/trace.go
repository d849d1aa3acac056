package sim

import (
	"fmt"
	"slices"
	"strings"

	"github.com/durable-go/durable/storage"
)

// The trace is the simulation's history: one line per step and per store
// call, in the order they happened, with the simulated time. Two runs of
// one seed give the same trace, byte for byte.

// short abbreviates an execution id for the trace (its random part).
func short(id string) string {
	if len(id) > 8 {
		return id[len(id)-8:]
	}
	return id
}

func claimsString(rows []storage.Execution) string {
	if len(rows) == 0 {
		return "none"
	}
	parts := make([]string, len(rows))
	for i, r := range rows {
		parts[i] = fmt.Sprintf("%s(%s %s f%d a%d c%d)", short(r.ID), r.TaskID, r.Status, r.Fence, r.Attempt, r.Crashes)
	}
	return strings.Join(parts, " ")
}

func idsString(rows []storage.Execution) string {
	parts := make([]string, len(rows))
	for i, r := range rows {
		parts[i] = fmt.Sprintf("%s(%s %s)", short(r.ID), r.TaskID, r.Status)
	}
	return strings.Join(parts, " ")
}

func transitionsString(trs []storage.Transition, res []storage.TransitionResult) string {
	parts := make([]string, len(trs))
	for i, tr := range trs {
		outcome := "?"
		if i < len(res) {
			switch {
			case res[i].Err != nil:
				outcome = "refused: " + res[i].Err.Error()
			case res[i].Applied:
				outcome = "applied"
			default:
				outcome = "not applied"
			}
		}
		extra := ""
		if tr.Error != nil {
			extra = " " + string(tr.Error.Kind)
		}
		if len(tr.Children) > 0 {
			extra += fmt.Sprintf(" +%d children", len(tr.Children))
		}
		parts[i] = fmt.Sprintf("%s f%d %s->%s a%d i%d%s: %s", short(tr.ID), tr.Fence, tr.From, tr.To, tr.Attempt, tr.Iteration, extra, outcome)
	}
	return strings.Join(parts, "; ")
}

func leasesString(leases []storage.Lease) string {
	parts := make([]string, len(leases))
	for i, l := range leases {
		parts[i] = fmt.Sprintf("%s:f%d", short(l.ID), l.Fence)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// sortedLeases returns leases sorted by id and fence: the executor lists
// the claims it holds from a map, in no fixed order.
func sortedLeases(leases []storage.Lease) []storage.Lease {
	out := slices.Clone(leases)
	slices.SortFunc(out, func(a, b storage.Lease) int {
		if c := strings.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		return int(a.Fence - b.Fence)
	})
	return out
}
