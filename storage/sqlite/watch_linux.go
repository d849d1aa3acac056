//go:build linux

package sqlite

import (
	"os"
	"syscall"
	"unsafe"
)

// watchWrites reports writes to the file at path (the WAL) with inotify:
// the channel receives a value after writes (several writes may make one
// value), and is closed when the file can no longer be watched (it was
// deleted, say) or stop was called. It returns a nil channel when the file
// cannot be watched.
func watchWrites(path string) (<-chan struct{}, func()) {
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		return nil, nil
	}
	if _, err := syscall.InotifyAddWatch(fd, path, syscall.IN_MODIFY); err != nil {
		syscall.Close(fd)
		return nil, nil
	}
	// A non-blocking descriptor goes through Go's poller, so that Close
	// ends a Read in progress.
	f := os.NewFile(uintptr(fd), "inotify:"+path)
	ch := make(chan struct{}, 1)
	go func() {
		defer close(ch)
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			if err != nil {
				return // closed by stop, or broken: the watcher polls
			}
			gone := false
			for off := 0; off+syscall.SizeofInotifyEvent <= n; {
				ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
				if ev.Mask&(syscall.IN_IGNORED|syscall.IN_DELETE_SELF|syscall.IN_UNMOUNT) != 0 {
					gone = true
				}
				off += syscall.SizeofInotifyEvent + int(ev.Len)
			}
			select {
			case ch <- struct{}{}:
			default: // a value is pending already
			}
			if gone {
				f.Close()
				return
			}
		}
	}()
	return ch, func() { f.Close() }
}
