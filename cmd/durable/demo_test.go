package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestDemoRunsToCompletion(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "demo.db")
	var out, errOut bytes.Buffer
	if code := run([]string{"demo", "--db", db}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{
		"reserved lamp; reserved desk; reserved chair",
		"loaded 8 rows (sum of squares 173)",
		"delivered after 5 iterations",
		"webhook said: paid $42.00",
		// why an attempt failed, the ids, and how to look further
		"charge_card te_", "attempt 1 failed: card network timeout",
		"failed attempts (retried):", "fan-out + finalize   ik_demo_order",
		"durable executions list --db " + db, "durable executions tree ik_demo_order --db " + db,
		"durable executions show te_",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	// The commands the demo suggests work on what it did.
	i := strings.Index(out.String(), "durable executions show ")
	if i < 0 {
		t.Fatalf("no show hint:\n%s", out.String())
	}
	charge := strings.Fields(out.String()[i:])[3]
	if r := runCmd("executions", "show", charge, "--db", db); r.code != exitOK ||
		!strings.Contains(r.stdout, "charge_card") || !strings.Contains(r.stdout, "card network timeout") {
		t.Errorf("the suggested show: %s", r)
	}
	if r := runCmd("executions", "tree", "ik_demo_order", "--db", db); r.code != exitOK || !strings.Contains(r.stdout, "summarize_order") {
		t.Errorf("the suggested tree: %s", r)
	}
	out.Reset()
	if code := run([]string{"demo", "--db", db}, &out, &errOut); code != exitOK || !strings.Contains(out.String(), "already finished") {
		t.Errorf("second run: exit %d\n%s", code, out.String())
	}
}

func TestDemoBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notDB := filepath.Join(dir, "text.db")
	if err := os.WriteFile(notDB, []byte("hello, not a database\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"UnknownFlag", []string{"demo", "--bogus"}, exitUsage, "-bogus"},
		{"ExtraArgument", []string{"demo", "extra"}, exitUsage, "unexpected argument"},
		{"EmptyPath", []string{"demo", "--db", ""}, exitUsage, "--db must not be empty"},
		{"MissingDirectory", []string{"demo", "--db", filepath.Join(dir, "no", "such", "x.db")}, exitError, "does not exist"},
		{"NotADatabase", []string{"demo", "--db", notDB}, exitError, "not an SQLite database"},
		{"Directory", []string{"demo", "--db", dir}, exitError, "cannot use database"},
		{"UnknownCommand", []string{"frobnicate"}, exitUsage, "unknown command"},
		{"NoCommand", nil, exitUsage, "usage"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			code := run(c.args, &out, &errOut)
			if code != c.code || !strings.Contains(errOut.String(), c.msg) {
				t.Errorf("exit %d (want %d), stderr:\n%s\n(want %q)", code, c.code, errOut.String(), c.msg)
			}
		})
	}
}

// TestDemoResumesAfterKill kills a real demo process mid-run and checks that
// the next run finishes the same workflows instead of starting over.
func TestDemoResumesAfterKill(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and kills a real process")
	}
	bin := filepath.Join(t.TempDir(), "durable")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	db := filepath.Join(t.TempDir(), "demo.db")
	cmd := exec.Command(bin, "demo", "--db", db, "--plain")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it mid-run: once the sequence's first step has completed (the
	// check below is about that step), while the rest still runs.
	var first strings.Builder
	extracted, read := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stdout)
		seen := false
		for sc.Scan() {
			first.WriteString(sc.Text() + "\n")
			if !seen && strings.Contains(sc.Text(), "extract            completed") {
				seen = true
				close(extracted)
			}
		}
	}()
	select {
	case <-extracted:
	case <-read: // it ended (or its output did)
	case <-time.After(time.Minute):
		t.Error("the demo did not complete its first step within a minute")
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-read
	_ = cmd.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if strings.Contains(first.String(), "results:") {
		t.Skip("the demo finished before the kill; nothing to resume")
	}
	out, err := exec.Command(bin, "demo", "--db", db, "--plain").CombinedOutput()
	if err != nil {
		t.Fatalf("rerun: %v\n%s", err, out)
	}
	// The sequence's first step finished before the kill (0.7s): a resumed
	// run must not run it again, so its completion is not printed anew as
	// running.
	if strings.Contains(string(out), "extract            running") && strings.Contains(first.String(), "extract            completed") {
		t.Errorf("extract ran again after resume:\n%s", out)
	}
	if !strings.Contains(string(out), "webhook said: paid $42.00") {
		t.Errorf("resumed run did not finish:\n%s", out)
	}
}
