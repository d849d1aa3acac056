//go:build linux

package sqlite

import (
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// The stores of a process share one inotify instance: a user may create
// only a few of them (fs.inotify.max_user_instances, 128 by default, for
// all of the user's processes), and a store that cannot get one polls. The
// instance is created by the first watch and closed with the last.
var (
	inotifyMu  sync.Mutex
	inotifyCur *inotifyInstance
)

type inotifyInstance struct {
	fd   int
	f    *os.File                  // fd, through Go's poller, so that Close ends a Read
	subs map[int32][]chan struct{} // by watch descriptor; guarded by inotifyMu
}

// watchWrites reports writes to the file at path (the signal file): the
// channel receives a value after writes (several writes may make one
// value), and is closed when the file can no longer be watched or stop was
// called. It returns a nil channel when the file cannot be watched.
func watchWrites(path string) (<-chan struct{}, func()) {
	inotifyMu.Lock()
	defer inotifyMu.Unlock()
	inst := inotifyCur
	if inst == nil {
		fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
		if err != nil {
			return nil, nil
		}
		inst = &inotifyInstance{fd: fd, f: os.NewFile(uintptr(fd), "inotify"), subs: map[int32][]chan struct{}{}}
		go inst.read()
	}
	wd, err := syscall.InotifyAddWatch(inst.fd, path, syscall.IN_MODIFY)
	if err != nil {
		if len(inst.subs) == 0 {
			inst.f.Close()
		}
		return nil, nil
	}
	inotifyCur = inst
	ch := make(chan struct{}, 1)
	inst.subs[int32(wd)] = append(inst.subs[int32(wd)], ch)
	var once sync.Once
	return ch, func() { once.Do(func() { inst.unwatch(int32(wd), ch) }) }
}

// unwatch removes ch, the watch of wd with its last channel, and the
// instance with its last watch.
func (inst *inotifyInstance) unwatch(wd int32, ch chan struct{}) {
	inotifyMu.Lock()
	defer inotifyMu.Unlock()
	list := inst.subs[wd]
	for i, c := range list {
		if c == ch {
			close(ch)
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) > 0 {
		inst.subs[wd] = list
		return
	}
	if _, ok := inst.subs[wd]; ok {
		delete(inst.subs, wd)
		_, _ = syscall.InotifyRmWatch(inst.fd, uint32(wd))
	}
	if len(inst.subs) == 0 && inotifyCur == inst {
		inotifyCur = nil
		inst.f.Close() // ends read
	}
}

// read delivers the events of the instance until it is closed.
func (inst *inotifyInstance) read() {
	buf := make([]byte, 4096)
	for {
		n, err := inst.f.Read(buf)
		if err != nil {
			// Closed with its last watch, or broken: the channels still
			// open are closed, and their watchers poll.
			inotifyMu.Lock()
			for wd, list := range inst.subs {
				for _, ch := range list {
					close(ch)
				}
				delete(inst.subs, wd)
			}
			if inotifyCur == inst {
				inotifyCur = nil
				inst.f.Close()
			}
			inotifyMu.Unlock()
			return
		}
		inotifyMu.Lock()
		for off := 0; off+syscall.SizeofInotifyEvent <= n; {
			ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
			off += syscall.SizeofInotifyEvent + int(ev.Len)
			switch {
			case ev.Mask&syscall.IN_Q_OVERFLOW != 0: // events were lost
				for _, list := range inst.subs {
					notifyAll(list)
				}
			case ev.Mask&syscall.IN_IGNORED != 0: // the watch is gone
				for _, ch := range inst.subs[ev.Wd] {
					close(ch)
				}
				delete(inst.subs, ev.Wd)
			default:
				notifyAll(inst.subs[ev.Wd])
			}
		}
		inotifyMu.Unlock()
	}
}

func notifyAll(list []chan struct{}) {
	for _, ch := range list {
		select {
		case ch <- struct{}{}:
		default: // a value is pending already
		}
	}
}
