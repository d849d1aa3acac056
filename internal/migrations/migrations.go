// Package migrations reads the embedded schema migrations of the SQL
// stores: files named NNN_name.sql, numbered 1, 2, 3, ... without gaps.
package migrations

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// File is one migration file.
type File struct {
	Version  int
	Name     string // the file name without .sql
	SQL      string
	Checksum string // hex SHA-256 of the file
}

// Load reads the *.sql files at the root of fsys, ordered by version. It
// fails on a file not named NNN_name.sql, on a gap in the versions, and
// when there is no file.
func Load(fsys fs.FS) ([]File, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	var out []File
	for _, name := range names {
		f, err := read(fsys, name)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil, errors.New("no migrations embedded")
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i, f := range out {
		if f.Version != i+1 {
			return nil, fmt.Errorf("migration %s: want version %d (versions must have no gaps)", f.Name, i+1)
		}
	}
	return out, nil
}

func read(fsys fs.FS, name string) (File, error) {
	base := strings.TrimSuffix(path.Base(name), ".sql")
	num, _, ok := strings.Cut(base, "_")
	version, err := strconv.Atoi(num)
	if !ok || err != nil || version < 1 {
		return File{}, fmt.Errorf("migration file %s: want a name like 001_name.sql", name)
	}
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return File{}, err
	}
	sum := sha256.Sum256(b)
	return File{Version: version, Name: base, SQL: string(b), Checksum: hex.EncodeToString(sum[:])}, nil
}
