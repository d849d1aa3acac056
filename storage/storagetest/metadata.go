package storagetest

import (
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/durable-go/durable/storage"
)

// metadataChecks are the checks of Execution.Metadata: stored at insert
// (by every insert path a store has: one row, a small batch, a bulk batch,
// rows claimed at insert, children of Complete), returned by every read,
// and refused when invalid.
var metadataChecks = []check{
	{"InsertMetadataRoundTrip", checkMetadataRoundTrip},
	{"InsertInvalidMetadata", checkInsertInvalidMetadata},
	{"CompleteChildWithInvalidMetadata", checkCompleteChildInvalidMetadata},
}

// traceMetadata is metadata as the engine stores a trace context, with a
// value of every kind of character a store must keep byte for byte.
func traceMetadata(i int) map[string]string {
	return map[string]string{
		"traceparent": fmt.Sprintf("00-%032x-%016x-01", i+1, i+1),
		"tracestate":  `vendor=a:b,"quoted"\back\slash`,
		"request.id":  fmt.Sprintf("ünï-%d ✓", i),
	}
}

// bulkRows is how many rows the bulk insert of checkMetadataRoundTrip
// has: more than a store takes through its bulk path (PostgreSQL's COPY
// from 256).
const bulkRows = 300

func checkMetadataRoundTrip(b *bundle) {
	one := NewExecution("one", "task")
	one.Metadata = traceMetadata(0)
	most := NewExecution("most", "task")
	most.Metadata = largestMetadata()
	empty := NewExecution("empty", "task")
	empty.Metadata = map[string]string{}
	b.insert(Base, nil, one)
	b.insert(Base, nil, most, empty, NewExecution("none", "task"))

	claimed := NewExecution("claimed", "task_claimed") // claimed at insert: a direct start
	claimed.Status, claimed.ExecutorID, claimed.Metadata = storage.StatusRunning, "exec-a", traceMetadata(1)
	b.insert(Base, []time.Duration{Lease}, claimed)

	bulk := make([]storage.Execution, bulkRows)
	for i := range bulk {
		bulk[i] = NewExecution(fmt.Sprintf("bulk-%03d", i), "task_bulk")
		if i%2 == 0 {
			bulk[i].Metadata = traceMetadata(i)
		}
	}
	b.insert(At(time.Second), nil, bulk...)

	b.requireMetadata("Get", "one", b.get("one").Metadata, one.Metadata)
	b.requireMetadata("Get", "most", b.get("most").Metadata, most.Metadata)
	b.requireMetadata("Get", "claimed", b.get("claimed").Metadata, claimed.Metadata)
	for _, id := range []string{"empty", "none"} {
		b.requireMetadata("Get", id, b.get(id).Metadata, nil)
	}
	for _, e := range b.claim(At(2*time.Second), "exec-b", bulkRows, "task_bulk") {
		var i int
		if _, err := fmt.Sscanf(e.ID, "bulk-%03d", &i); err != nil {
			b.t.Fatalf("claimed %s", e.ID)
		}
		b.requireMetadata("Claim", e.ID, e.Metadata, bulk[i].Metadata)
	}
	listed := b.listAll("every row", storage.ListFilter{IDs: []string{"one", "none"}}, storage.OldestFirst, storage.MaxListLimit)
	for _, e := range listed {
		want := one.Metadata
		if e.ID == "none" {
			want = nil
		}
		b.requireMetadata("List", e.ID, e.Metadata, want)
	}

	// Children inserted by Complete keep theirs; ListChildren returns them.
	p := b.running(Base, "p")
	c0 := NewChild(p, "p-c0", "task_child", 0)
	c0.Metadata = traceMetadata(7)
	c1 := NewChild(p, "p-c1", "task_child", 1)
	b.mustApply(At(time.Second), storage.Transition{ID: "p", Fence: p.Fence, From: storage.StatusRunning,
		To: storage.StatusWaitingForChildren, Children: []storage.Execution{c0, c1}})
	kids, err := b.s.ListChildren(b.ctx, storage.ListChildrenParams{ParentID: "p"})
	if err != nil || len(kids) != 2 {
		b.t.Fatalf("ListChildren: %v, %v", ids(kids), err)
	}
	b.requireMetadata("ListChildren", "p-c0", kids[0].Metadata, c0.Metadata)
	b.requireMetadata("ListChildren", "p-c1", kids[1].Metadata, nil)
}

// requireMetadata fails the check unless got is want (nil for none).
func (b *bundle) requireMetadata(read, id string, got, want map[string]string) {
	b.t.Helper()
	if (got == nil) != (want == nil) || !maps.Equal(got, want) {
		b.t.Fatalf("%s of %s: metadata %#v, want %#v", read, id, got, want)
	}
}

// largestMetadata is metadata at every limit: MaxMetadataKeys keys, one of
// MaxMetadataKeyLen bytes, MaxMetadataBytes bytes in all.
func largestMetadata() map[string]string {
	m := map[string]string{strings.Repeat("k", storage.MaxMetadataKeyLen): ""}
	size := storage.MaxMetadataKeyLen
	for i := 1; i < storage.MaxMetadataKeys; i++ {
		k := fmt.Sprintf("key-%02d", i)
		m[k] = ""
		size += len(k)
	}
	m["key-01"] = strings.Repeat("v", storage.MaxMetadataBytes-size)
	return m
}

// invalidMetadata returns metadata ValidateMetadata rejects, by name.
func invalidMetadata() map[string]map[string]string {
	tooMany := map[string]string{}
	for i := range storage.MaxMetadataKeys + 1 {
		tooMany[fmt.Sprintf("k%d", i)] = "v"
	}
	tooBig := largestMetadata()
	tooBig["key-01"] += "v"
	return map[string]map[string]string{
		"TooManyKeys":  tooMany,
		"TooBig":       tooBig,
		"EmptyKey":     {"": "v"},
		"LongKey":      {strings.Repeat("k", storage.MaxMetadataKeyLen+1): "v"},
		"KeyWithSpace": {"a key": "v"},
		"InvalidUTF8":  {"k": "\xff"},
		"NUL":          {"k": "a\x00b"},
	}
}

func checkInsertInvalidMetadata(b *bundle) {
	for name, m := range invalidMetadata() {
		if storage.ValidateMetadata(m) == nil {
			b.t.Fatalf("case %s: ValidateMetadata accepts it", name)
		}
		b.requireInsertRefused("metadata "+name, func(e *storage.Execution) { e.Metadata = m })
	}
}

func checkCompleteChildInvalidMetadata(b *bundle) {
	p := b.running(Base, "p")
	for name, m := range invalidMetadata() {
		b.requireSpawnRefused(p, "metadata "+name, func(e *storage.Execution) { e.Metadata = m })
	}
}
