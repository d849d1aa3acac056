package storage

import "sync"

// Subscribers is the subscriber list a Store implementation needs for
// Subscribe: safe for concurrent use, copy-on-write (Publish never holds
// the lock while it calls a subscriber, so a subscriber may subscribe or
// unsubscribe), and each subscriber gets its own copy of Finished. The
// zero value is ready to use.
type Subscribers struct {
	mu   sync.Mutex
	next uint64
	list []subscriber // copy-on-write: never modified in place
}

type subscriber struct {
	id uint64
	fn func(Event)
}

// Subscribe adds fn; the returned function removes it and may be called
// more than once. A nil fn is ignored.
func (s *Subscribers) Subscribe(fn func(Event)) (unsubscribe func()) {
	if fn == nil {
		return func() {}
	}
	s.mu.Lock()
	s.next++
	id := s.next
	s.list = append(s.list[:len(s.list):len(s.list)], subscriber{id: id, fn: fn})
	s.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { s.remove(id) }) }
}

func (s *Subscribers) remove(id uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := make([]subscriber, 0, len(s.list))
	for _, sub := range s.list {
		if sub.id != id {
			list = append(list, sub)
		}
	}
	s.list = list
}

// Publish delivers ev to every subscriber, in the calling goroutine. An
// empty event (not Ready, nothing Finished) is not delivered.
func (s *Subscribers) Publish(ev Event) {
	if !ev.Ready && len(ev.Finished) == 0 {
		return
	}
	s.mu.Lock()
	list := s.list
	s.mu.Unlock()
	for _, sub := range list {
		var finished []string
		if len(ev.Finished) > 0 {
			finished = append([]string(nil), ev.Finished...)
		}
		sub.fn(Event{Ready: ev.Ready, Finished: finished})
	}
}
