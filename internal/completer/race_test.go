//go:build race

package completer

const raceEnabled = true
