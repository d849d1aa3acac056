package sqlite

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
)

// TestCheckpointerRestartsTheWAL writes many times walRestart frames, with
// the writer's own auto-checkpoint far away (walBackstop): the
// checkpointer copies the frames and has the writer restart the WAL, so
// the WAL file (which SQLite writes again from its start, without
// shrinking it) stays a few times walRestart frames long instead of
// growing with every frame written.
func TestCheckpointerRestartsTheWAL(t *testing.T) {
	t.Parallel()
	s := openInternal(t, Config{})
	ctx := t.Context()
	const frame = 8192 + 24
	var inserted int64
	for i := 0; inserted < 8*walRestart*frame; i++ {
		rows := make([]storage.Execution, 200)
		for j := range rows {
			rows[j] = readyRow(fmt.Sprintf("r%d-%d", i, j))
			rows[j].Input = make([]byte, 1000)
		}
		if err := s.Insert(ctx, storage.InsertParams{Now: testNow, Executions: rows}); err != nil {
			t.Fatal(err)
		}
		inserted += int64(len(rows) * 1000)
		time.Sleep(time.Millisecond)
	}
	fi, err := os.Stat(s.path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d MB of input inserted; WAL file %d frames", inserted>>20, fi.Size()/frame)
	if max := int64(4 * walRestart * frame); fi.Size() > max {
		t.Errorf("the WAL file grew to %d frames after %d MB of input: it did not restart (want at most %d frames)",
			fi.Size()/frame, inserted>>20, max/frame)
	}
}
