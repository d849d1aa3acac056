package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/durable-go/durable/storage/postgres"
	"github.com/durable-go/durable/storage/sqlite"
)

// buildInfo is what `durable version` prints.
type buildInfo struct {
	Version        string `json:"version"`
	Module         string `json:"module"`
	Go             string `json:"go"`
	Platform       string `json:"platform"`
	Commit         string `json:"commit,omitempty"`
	CommitTime     string `json:"commit_time,omitempty"`
	Modified       bool   `json:"modified,omitzero"`
	SQLiteSchema   int    `json:"sqlite_schema"`
	PostgresSchema int    `json:"postgres_schema"`
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: "(devel)", Module: "github.com/durable-go/durable", Go: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH, SQLiteSchema: sqlite.SchemaVersion(), PostgresSchema: postgres.SchemaVersion}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.Go = info.GoVersion
	if info.Main.Path == b.Module && info.Main.Version != "" {
		b.Version = info.Main.Version
	} else {
		for _, d := range info.Deps { // durable built into another module
			if d.Path == b.Module {
				b.Version = d.Version
			}
		}
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.time":
			b.CommitTime = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// version is the module version, for bench results.
func version() string { return readBuildInfo().Version }

func runVersion(args []string, stdout, stderr io.Writer) int {
	c := newCLI("version", "", "Prints durable's module version, the Go version it was built with, its commit\n"+
		"when built from a checkout, and the schema versions its stores migrate to.", stdout, stderr)
	var asJSON bool
	c.boolVar(&asJSON, "json", false, "print one JSON object")
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return c.failf("unexpected argument %q", pos[0])
	}
	b := readBuildInfo()
	if asJSON {
		_ = writeJSON(stdout, b)
		return exitOK
	}
	fmt.Fprintf(stdout, "durable %s\n", b.Version)
	fmt.Fprintf(stdout, "module   %s\n", b.Module)
	fmt.Fprintf(stdout, "go       %s %s\n", b.Go, b.Platform)
	if b.Commit != "" {
		modified := ""
		if b.Modified {
			modified = ", with uncommitted changes"
		}
		fmt.Fprintf(stdout, "commit   %s (%s%s)\n", b.Commit, b.CommitTime, modified)
	}
	fmt.Fprintf(stdout, "schemas  SQLite version %d, PostgreSQL version %d\n", b.SQLiteSchema, b.PostgresSchema)
	return exitOK
}
