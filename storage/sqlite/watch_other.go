//go:build !linux

package sqlite

// watchWrites returns a nil channel: without inotify, the watcher polls.
func watchWrites(path string) (<-chan struct{}, func()) { return nil, nil }
