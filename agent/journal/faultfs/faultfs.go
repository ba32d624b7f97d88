package faultfs

import (
	"os"
	"sync"
	"syscall"

	"github.com/rackwatch/rackwatch/agent/journal"
)

// FS injects faults into another journal.FS. The zero value is not usable; create one with New.
type FS struct {
	inner journal.FS

	mu        sync.Mutex
	free      int64 // bytes writes may still add; < 0: unlimited
	syncErr   error
	writeErr  error
	createErr error
	// Counters of the faults injected.
	Failed int
}

// New wraps inner (journal.OS when nil) with no fault set.
func New(inner journal.FS) *FS {
	if inner == nil {
		inner = journal.OS
	}
	return &FS{inner: inner, free: -1}
}

// Fill makes the disk full: from now on writes may add only free more bytes (0: none).
func (f *FS) Fill(free int64) { f.mu.Lock(); f.free = free; f.mu.Unlock() }

// FailSyncs makes every fsync fail with err (nil heals), as a failing SD card does with EIO.
func (f *FS) FailSyncs(err error) { f.mu.Lock(); f.syncErr = err; f.mu.Unlock() }

// FailWrites makes every write fail with err without writing (nil heals).
func (f *FS) FailWrites(err error) { f.mu.Lock(); f.writeErr = err; f.mu.Unlock() }

// FailCreates makes creating a file fail with err (nil heals).
func (f *FS) FailCreates(err error) { f.mu.Lock(); f.createErr = err; f.mu.Unlock() }

// Heal removes every fault: the disk has space again and answers.
func (f *FS) Heal() {
	f.mu.Lock()
	f.free, f.syncErr, f.writeErr, f.createErr = -1, nil, nil, nil
	f.mu.Unlock()
}

// ENOSPC and EIO as the operating system reports them.
var (
	ENOSPC error = syscall.ENOSPC
	EIO    error = syscall.EIO
)

func (f *FS) OpenFile(name string, flag int, perm os.FileMode) (journal.File, error) {
	f.mu.Lock()
	cerr := f.createErr
	if cerr == nil && flag&os.O_CREATE != 0 && f.free == 0 {
		if _, err := os.Stat(name); err != nil {
			cerr = ENOSPC // a new file needs a block (and an inode) of its own
		}
	}
	if cerr != nil && flag&os.O_CREATE != 0 {
		f.Failed++
		f.mu.Unlock()
		return nil, &os.PathError{Op: "open", Path: name, Err: cerr}
	}
	f.mu.Unlock()
	in, err := f.inner.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &file{File: in, fs: f, name: name}, nil
}

// Remove gives back the space of the file it removes.
func (f *FS) Remove(name string) error {
	st, serr := os.Stat(name)
	if err := f.inner.Remove(name); err != nil {
		return err
	}
	f.mu.Lock()
	if f.free >= 0 && serr == nil {
		f.free += st.Size()
	}
	f.mu.Unlock()
	return nil
}

func (f *FS) Rename(oldpath, newpath string) error         { return f.inner.Rename(oldpath, newpath) }
func (f *FS) ReadDir(name string) ([]os.DirEntry, error)   { return f.inner.ReadDir(name) }
func (f *FS) MkdirAll(path string, perm os.FileMode) error { return f.inner.MkdirAll(path, perm) }

func (f *FS) SyncDir(dir string) error {
	f.mu.Lock()
	err := f.syncErr
	if err != nil {
		f.Failed++
	}
	f.mu.Unlock()
	if err != nil {
		return &os.PathError{Op: "sync", Path: dir, Err: err}
	}
	return f.inner.SyncDir(dir)
}

type file struct {
	journal.File
	fs   *FS
	name string
}

// WriteAt writes what fits: bytes beyond the file's current end use free space; when it runs out the
// write is cut short there and fails with ENOSPC, as on a full disk.
func (w *file) WriteAt(p []byte, off int64) (int, error) {
	f := w.fs
	f.mu.Lock()
	if err := f.writeErr; err != nil {
		f.Failed++
		f.mu.Unlock()
		return 0, &os.PathError{Op: "write", Path: w.name, Err: err}
	}
	n := len(p)
	if f.free >= 0 {
		size := int64(0)
		if st, err := w.File.Stat(); err == nil {
			size = st.Size()
		}
		if grow := off + int64(len(p)) - size; grow > f.free {
			n = int(max(0, size+f.free-off))
		}
		if end := off + int64(n); end > size {
			f.free -= end - size
		}
	}
	f.mu.Unlock()
	m, err := w.File.WriteAt(p[:n], off)
	if err == nil && n < len(p) {
		f.mu.Lock()
		f.Failed++
		f.mu.Unlock()
		err = &os.PathError{Op: "write", Path: w.name, Err: ENOSPC}
	}
	return m, err
}

func (w *file) Sync() error {
	f := w.fs
	f.mu.Lock()
	err := f.syncErr
	if err != nil {
		f.Failed++
	}
	f.mu.Unlock()
	if err != nil {
		return &os.PathError{Op: "sync", Path: w.name, Err: err}
	}
	return w.File.Sync()
}

// Truncate gives back the space of what it cuts off.
func (w *file) Truncate(size int64) error {
	f := w.fs
	var old int64
	if st, err := w.File.Stat(); err == nil {
		old = st.Size()
	}
	if err := w.File.Truncate(size); err != nil {
		return err
	}
	f.mu.Lock()
	if f.free >= 0 && size < old {
		f.free += old - size
	}
	f.mu.Unlock()
	return nil
}
