package sqlite

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/durable-go/durable/internal/idpack"
)

// Events between processes. SQLite has no notifications, so a write
// transaction that makes rows due or finishes executions appends one row
// to durable_events (002_events.sql) before it commits: the merged event of
// every call the transaction carried, with the ids of the finished
// executions packed in one value. Every store on the file watches for
// commits (watch.go), reads the rows appended since it last looked, skips
// its own (by the tag each store draws at Open) and publishes the others'.

// eventRetention is how long an event row is kept. A store that does not
// look for that long (its process stopped, say) misses the events pruned
// meanwhile: it then publishes Ready, and what it waits for is found by
// polling (Wait's PollInterval, heartbeats). pruneEvery is how often a
// writer prunes the rows older than that. Variables for tests.
var (
	eventRetention = 10 * time.Second
	pruneEvery     = time.Second
)

// The statements on durable_events.
const (
	// ?1 at, ?2 tag, ?3 ready, ?4 finished.
	eventInsertSQL = `INSERT INTO durable_events (at, tag, ready, finished) VALUES (?1, ?2, ?3, ?4)`
	// ?1 the last seq to delete.
	eventPruneSQL = `DELETE FROM durable_events WHERE seq <= ?1`
	// The rows after ?1, with only the seq of those tagged ?2 (this
	// store's), in order.
	eventReadSQL = `SELECT seq, tag = ?2, ready, CASE WHEN tag = ?2 THEN NULL ELSE finished END
FROM durable_events WHERE seq > ?1 ORDER BY seq`
	eventLastSQL = `SELECT coalesce(max(seq), 0) FROM durable_events`
)

// newTag returns a random tag naming a store in durable_events.
func newTag() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// eventLog is the writer's side of durable_events.
type eventLog struct {
	tag string
	// marks are seqs of rows this writer appended, one per pruneEvery at
	// most, oldest first: the rows up to a mark older than eventRetention
	// are pruned. A store that writes no events prunes nothing; the rows
	// of others are pruned by their writers (or by this one, once it writes).
	marks []eventMark
	buf   []byte // packed ids, reused
	// signal is the signal file the watchers of every store on the file
	// watch (watch.go), written after each commit that appended an event;
	// nil when there is none.
	signal atomic.Pointer[os.File]
}

// signalByte is what the writer writes to the signal file.
var signalByte = []byte{1}

// signalCommit tells the watchers of the file that an event was committed.
// A failed write is of no consequence: the watchers also poll.
func (l *eventLog) signalCommit() {
	if f := l.signal.Load(); f != nil {
		_, _ = f.WriteAt(signalByte, 0)
	}
}

type eventMark struct {
	at  time.Time
	seq int64
}

// record appends the event of a transaction, and prunes the old rows once
// in a while. It runs on the writer goroutine, inside the transaction.
func (w *writer) recordEvents(ev *events) error {
	l := &w.events
	var finished any
	if len(ev.finished) > 0 {
		l.buf = packIDs(l.buf[:0], ev.finished)
		finished = l.buf
	}
	now := time.Now()
	st, err := w.stmt("event_insert", func() string { return eventInsertSQL })
	if err != nil {
		return err
	}
	res, err := st.Exec(now.UnixMicro(), l.tag, ev.ready, finished)
	if err != nil {
		return fmt.Errorf("sqlite: record events: %w", err)
	}
	if n := len(l.marks); n > 0 && now.Sub(l.marks[n-1].at) < pruneEvery {
		return nil
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("sqlite: record events: %w", err)
	}
	l.marks = append(l.marks, eventMark{at: now, seq: seq})
	old := 0 // marks older than the retention
	for old < len(l.marks) && now.Sub(l.marks[old].at) > eventRetention {
		old++
	}
	if old == 0 {
		return nil
	}
	// The rows up to the newest mark past the retention go. The row just
	// appended is newer than every mark but itself, so the newest row is
	// never deleted and seqs keep growing.
	cut := l.marks[old-1].seq
	l.marks = append(l.marks[:0], l.marks[old:]...)
	st, err = w.stmt("event_prune", func() string { return eventPruneSQL })
	if err != nil {
		return err
	}
	if _, err := st.Exec(cut); err != nil {
		return fmt.Errorf("sqlite: prune events: %w", err)
	}
	return nil
}

// packIDs appends ids to b, packed (see package idpack).
func packIDs(b []byte, ids []string) []byte { return idpack.Append(b, ids) }

// unpackIDs appends the ids packed in b to out.
func unpackIDs(out []string, b []byte) ([]string, error) { return idpack.Unpack(out, b) }
