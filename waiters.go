package durable

import "sync"

// The waiters of Handle.Wait (handle.go): a Wait in this process is woken
// by the completion itself (a store event naming the execution finished),
// without waiting for its next poll.

// waitEntry is closed when its execution finishes.
type waitEntry struct {
	ch chan struct{}
	n  int
}

// waiterSet wakes Wait calls when their executions finish.
type waiterSet struct {
	mu sync.Mutex
	m  map[string]*waitEntry
}

func (w *waiterSet) add(id string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.m[id]
	if e == nil {
		e = &waitEntry{ch: make(chan struct{})}
		w.m[id] = e
	}
	e.n++
	return e.ch
}

func (w *waiterSet) remove(id string, ch <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e := w.m[id]; e != nil && e.ch == ch {
		if e.n--; e.n == 0 {
			delete(w.m, id)
		}
	}
}

func (w *waiterSet) notify(ids []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.m) == 0 {
		return
	}
	for _, id := range ids {
		if e := w.m[id]; e != nil {
			close(e.ch)
			delete(w.m, id)
		}
	}
}
