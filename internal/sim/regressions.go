package sim

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// RegressionsFile lists the seeds that once broke an invariant, one per
// line ("seed # what it found"), relative to this package's directory.
const RegressionsFile = "testdata/regressions.txt"

// ReadRegressions reads the seeds of a regressions file; a missing file
// has none.
func ReadRegressions(path string) ([]uint64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var seeds []uint64
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		if text = strings.TrimSpace(text); text == "" {
			continue
		}
		seed, err := strconv.ParseUint(text, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %q is not a seed: %v", path, line, text, err)
		}
		seeds = append(seeds, seed)
	}
	return seeds, sc.Err()
}

// AddRegression appends seed to the regressions file, with note.
func AddRegression(path string, seed uint64, note string) error {
	seeds, err := ReadRegressions(path)
	if err != nil {
		return err
	}
	for _, s := range seeds {
		if s == seed {
			return fmt.Errorf("seed %d is in %s already", seed, path)
		}
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	note = strings.ReplaceAll(note, "\n", " ")
	if _, err := fmt.Fprintf(f, "%d # %s\n", seed, note); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
