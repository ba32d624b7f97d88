package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// testHookAfterRename, when set by a test, runs between a compaction's rename and its deletes; an error
// stops the compaction there, as a crash would.
var testHookAfterRename func() error

// ErrNotDurable is wrapped by Append's error when the records could not be written to disk (a full disk,
// an I/O error). They were accepted nonetheless: Readers see them at once, from memory, and Retry writes
// them once the disk works again.
var ErrNotDurable = errors.New("not durable")

// Options tunes a journal.
type Options struct {
	// MaxSize bounds the bytes on disk; above it, older records of an alarm that has a newer one are
	// coalesced away. The latest record of every key is kept even if that exceeds MaxSize. 64 MiB if zero.
	MaxSize int64
	// SegmentSize is the size at which a new segment is started; MaxSize/16 clamped to [64 KiB, 4 MiB] if
	// zero.
	SegmentSize int64
	// MemoryMax bounds the records held in memory while the disk cannot be written, in encoded bytes;
	// above it, records every broker has acknowledged, then older records of an alarm that has a newer one,
	// are dropped (the latest record of every key is always kept). 1 MiB if zero.
	MemoryMax int64
	// FS is the file system; OS if nil (tests inject faults through it).
	FS  FS
	Log *slog.Logger
}

// Stats are the journal's counters, for metrics.
type Stats struct {
	Bytes     int64  // on disk, all segments
	Segments  int    //
	LastID    uint64 // highest record id readers can see (on disk, or held in memory)
	Coalesced uint64 // records dropped because a newer record of the same key was kept
	Overflow  uint64 // appends that left the journal above MaxSize (every key's latest state kept)
	Corrupt   uint64 // torn or corrupt tails cut off at Open
	Damaged   uint64 // damaged stretches skipped inside segments at Open (their records are lost)
	// Memory and MemoryBytes are the records accepted while the disk could not be written and not yet
	// written since.
	Memory      int
	MemoryBytes int64
	WriteErrors uint64 // writes, fsyncs and retries that failed
}

type segment struct {
	path   string
	first  uint64 // from the file name
	last   uint64 // highest record id in it; first-1 when empty
	count  int
	size   int64 // bytes known good: header and records written without error
	start  int64 // logical offset (over all segments ever written) of byte 0
	sealed bool
}

// Journal is an open journal directory. Its methods are safe for concurrent use.
//
// Writing has two modes. While the disk works, Append writes the records, fsyncs them (one fsync for every
// Append waiting at that moment) and only then lets Readers see them. When a write, an fsync or making
// room fails, the journal keeps the records that are not known to be on disk in memory (bounded by
// MemoryMax), lets Readers see them from there, and stops touching the disk for appends; Retry (called
// periodically) writes them when the disk works again, and the journal is back to the first mode.
type Journal struct {
	dir  string
	opt  Options
	fs   FS
	log  *slog.Logger
	lock *os.File

	syncMu sync.Mutex // held by the one goroutine running fsync (group commit), and by Retry

	mu      sync.Mutex
	segs    []*segment // in id order; the last one is active
	active  File
	retired []File // sealed files, closed after the running fsync
	written int64  // logical bytes written
	synced  int64  // logical bytes fsync'd
	nextID  uint64
	durable uint64 // highest id on disk and fsync'd (or dropped from memory, acknowledged)
	// unsynced holds the records written to the active segment and not yet fsync'd: should the fsync
	// fail, they move to mem rather than be lost.
	unsynced []Record
	// mem holds, oldest first, the records accepted while the disk could not be written (failed != nil).
	// It is replaced, never modified in place, when records are dropped, so Readers may keep a snapshot.
	mem      []Record
	memBytes int64
	failed   error // why the journal cannot write now; nil while it can
	gen      uint64
	cursors  map[string]uint64
	dirty    bool
	wbuf     []byte
	stats    Stats
	closed   bool
}

// Open opens (creating if needed) the journal in dir and recovers it: a torn or corrupt tail is logged
// and cut off, a damaged record inside a segment is skipped (logged with its offset). Only one process
// may have a journal open. A journal written in a newer format is refused (ErrNewerFormat).
func Open(dir string, opt Options) (*Journal, error) {
	if opt.MaxSize <= 0 {
		opt.MaxSize = 64 << 20
	}
	if opt.SegmentSize <= 0 {
		opt.SegmentSize = min(max(opt.MaxSize/16, 64<<10), 4<<20)
	}
	if opt.MemoryMax <= 0 {
		opt.MemoryMax = 1 << 20
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.FS == nil {
		opt.FS = OS
	}
	if err := opt.FS.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	// The lock is the operating system's, whatever FS is: it guards against a second process.
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("journal: %s is in use by another rackwatch process: %w", dir, err)
	}
	j := &Journal{dir: dir, opt: opt, fs: opt.FS, log: opt.Log, lock: lock, cursors: map[string]uint64{}, nextID: 1}
	if err := j.recover(); err != nil {
		j.closeFiles()
		return nil, err
	}
	return j, nil
}

func segName(first uint64) string { return fmt.Sprintf("%020d.seg", first) }

// listSegments returns the segment files of dir in id order; leftovers of an interrupted compaction
// (*.tmp) are returned in stale.
func listSegments(fsys FS, dir string) (segs []*segment, stale []string, err error) {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("journal: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			stale = append(stale, filepath.Join(dir, name))
			continue
		}
		if !strings.HasSuffix(name, ".seg") {
			continue
		}
		first, err := strconv.ParseUint(strings.TrimSuffix(name, ".seg"), 10, 64)
		if err != nil || first == 0 || first > maxID {
			continue
		}
		segs = append(segs, &segment{path: filepath.Join(dir, name), first: first, last: first - 1, sealed: true})
	}
	sort.Slice(segs, func(a, b int) bool { return segs[a].first < segs[b].first })
	return segs, stale, nil
}

// maxID bounds record ids (and segment names and cursors): far beyond any real journal, and far enough
// below 2^64 that id arithmetic cannot wrap. A larger number on disk is damage.
const maxID = 1 << 62

func (j *Journal) recover() error {
	segs, stale, err := listSegments(j.fs, j.dir)
	if err != nil {
		return err
	}
	for _, p := range stale {
		j.fs.Remove(p)
	}
	var kept []*segment
	var covered uint64
	var prev uint64
	for _, s := range segs {
		if s.first <= covered {
			j.log.Info("journal: removing segment replaced by compaction", "segment", s.path)
			if err := j.fs.Remove(s.path); err != nil {
				return fmt.Errorf("journal: %w", err)
			}
			continue
		}
		cov, err := j.scanSegment(s, prev)
		if err != nil {
			return err
		}
		if cov > covered && cov <= maxID {
			covered = cov
		}
		if s.count > 0 {
			prev = s.last
		}
		kept = append(kept, s)
	}
	for _, s := range kept {
		j.nextID = max(j.nextID, s.first, s.last+1)
	}
	j.readCursors()
	for _, c := range j.cursors {
		j.nextID = max(j.nextID, c+1)
	}
	// Empty segments carry nothing but their name, and nextID now remembers that; the new active
	// segment may even reuse the name.
	var empty []string
	for _, s := range kept {
		if s.count == 0 {
			empty = append(empty, s.path)
			continue
		}
		j.segs = append(j.segs, s)
		j.stats.Bytes += s.size
	}
	j.durable = j.nextID - 1
	// Always append to a fresh segment: the old tail may end in garbage we cut, and a new file named
	// by nextID also remembers nextID when everything before it is gone.
	if err := j.startSegment(); err != nil {
		return err
	}
	for _, p := range empty {
		if p != j.segs[len(j.segs)-1].path {
			j.fs.Remove(p)
		}
	}
	return nil
}

// scanSegment validates s: a torn or corrupt tail is cut off, damage inside is skipped and logged. prev is
// the highest id before it. It returns the segment's "covers" id.
func (j *Journal) scanSegment(s *segment, prev uint64) (covers uint64, err error) {
	f, err := j.fs.OpenFile(s.path, os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("journal: %w", err)
	}
	size := st.Size()
	hdr := make([]byte, segHeader)
	if _, err := f.ReadAt(hdr, 0); err != nil {
		// A segment created but never written (crash right after creating it).
		j.log.Warn("journal: segment without a header; resetting it", "segment", s.path, "size", size)
		j.stats.Corrupt++
		return 0, j.resetSegment(f, s)
	}
	covers, err = parseSegHeader(hdr)
	if errors.Is(err, ErrNewerFormat) {
		return 0, fmt.Errorf("journal: segment %s: %w. Run the rackwatch that wrote it, or move %s away to start without its backlog",
			s.path, err, j.dir)
	}
	if err != nil {
		// The header is damaged, the records after it may not be: keep them, with a fresh header (its
		// "covers" id is lost; at worst a compaction's leftovers are read once more).
		j.log.Error("journal: segment header is damaged; rewriting it and keeping the intact records", "segment", s.path)
		j.stats.Corrupt++
		if _, err := f.WriteAt(appendSegHeader(nil, 0), 0); err != nil {
			return 0, fmt.Errorf("journal: %w", err)
		}
		covers = 0
	}
	sc := newScanner(f, segHeader, size, prev)
	for {
		r, err := sc.next()
		if err == io.EOF {
			break
		}
		if errors.Is(err, errTail) {
			j.stats.Corrupt++
			j.log.Warn("journal: discarding a torn or corrupt tail", "segment", s.path, "offset", sc.skipOff,
				"discarded_bytes", size-sc.skipOff, "reason", sc.skipWhy)
			if err := f.Truncate(sc.skipOff); err != nil {
				return 0, fmt.Errorf("journal: %w", err)
			}
			if err := f.Sync(); err != nil {
				return 0, fmt.Errorf("journal: %w", err)
			}
			size = sc.skipOff
			break
		}
		if err != nil {
			return 0, fmt.Errorf("journal: %s: %w", s.path, err)
		}
		if sc.skipped > 0 {
			// Intact records follow the damage: only the damaged stretch is lost. It stays in the file
			// (readers skip it the same way) until the segment is acknowledged and removed.
			j.stats.Damaged++
			j.log.Error("journal: skipped a damaged record; the records after it are kept", "segment", s.path,
				"offset", sc.skipOff, "bytes", sc.skipped, "reason", sc.skipWhy, "next_id", r.ID)
		}
		s.last = r.ID
		s.count++
	}
	s.size = size
	if s.count > 0 && s.last > maxID {
		return 0, fmt.Errorf("journal: %s: record id %d is beyond any real journal", s.path, s.last)
	}
	return covers, nil
}

func (j *Journal) resetSegment(f File, s *segment) error {
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if _, err := f.WriteAt(appendSegHeader(nil, 0), 0); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	s.size = segHeader
	return f.Sync()
}

// startSegment creates a new active segment named by nextID. Nothing changes unless it succeeds.
func (j *Journal) startSegment() error {
	s := &segment{path: filepath.Join(j.dir, segName(j.nextID)), first: j.nextID, last: j.nextID - 1}
	f, err := j.fs.OpenFile(s.path, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	fail := func(err error) error {
		f.Close()
		return fmt.Errorf("journal: %w", err)
	}
	if _, err := f.WriteAt(appendSegHeader(nil, 0), 0); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := j.fs.SyncDir(j.dir); err != nil {
		return fail(err)
	}
	if len(j.segs) > 0 {
		last := j.segs[len(j.segs)-1]
		last.sealed = true
		if last.count == 0 {
			// An empty active segment is replaced (its name may even be reused).
			if last.path != s.path {
				j.fs.Remove(last.path)
			}
			j.stats.Bytes -= last.size
			j.segs = j.segs[:len(j.segs)-1]
			j.gen++
		}
	}
	if j.active != nil {
		j.retired = append(j.retired, j.active)
	}
	s.size = segHeader
	s.start = j.written
	j.written += segHeader
	j.synced = j.written
	j.segs = append(j.segs, s)
	j.stats.Bytes += segHeader
	j.active = f
	return nil
}

// Append assigns ids to recs (setting their ID fields), writes them and returns once they are on disk
// (fsync'd). Concurrent Appends share one fsync. The records' Data must not change afterwards.
//
// When the disk cannot be written, the records are kept in memory and are readable at once; the error
// then wraps ErrNotDurable (and the cause). Any other error means the records were not accepted.
func (j *Journal) Append(recs []Record) error { return j.AppendThen(recs, nil) }

// AppendThen is Append, calling assigned (if not nil) with the records once their ids are set, in id
// order across concurrent callers and before any Reader can see them. assigned must be quick: it runs
// with the journal locked.
func (j *Journal) AppendThen(recs []Record, assigned func([]Record)) error {
	if len(recs) == 0 {
		return nil
	}
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return errors.New("journal: closed")
	}
	if j.failed == nil {
		need := int64(0)
		for i := range recs {
			need += int64(encodedLen(&recs[i]))
		}
		if err := j.makeRoom(need); err != nil {
			j.degrade(err)
		}
	}
	for i := range recs {
		recs[i].ID = j.nextID
		j.nextID++
	}
	if assigned != nil {
		assigned(recs)
	}
	if j.failed != nil {
		j.keep(recs)
		err := j.notDurable()
		j.mu.Unlock()
		return err
	}
	j.wbuf = j.wbuf[:0]
	for i := range recs {
		j.wbuf = appendRecord(j.wbuf, &recs[i])
	}
	s := j.segs[len(j.segs)-1]
	if _, err := j.active.WriteAt(j.wbuf, s.size); err != nil {
		// What a short write left after s.size is overwritten when the journal catches up, or cut off as a
		// torn tail at the next Open.
		j.degrade(fmt.Errorf("write: %w", err))
		j.keep(recs)
		err := j.notDurable()
		j.mu.Unlock()
		return err
	}
	n := int64(len(j.wbuf))
	if cap(j.wbuf) > 1<<20 {
		j.wbuf = nil // a rare huge batch should not pin its buffer
	}
	s.size += n
	s.last = recs[len(recs)-1].ID
	s.count += len(recs)
	j.stats.Bytes += n
	j.written += n
	j.unsynced = append(j.unsynced, recs...)
	last := recs[len(recs)-1].ID
	j.mu.Unlock()
	return j.syncTo(last)
}

// notDurable is Append's error while the journal cannot write. mu held.
func (j *Journal) notDurable() error {
	return fmt.Errorf("journal: %w (kept in memory and delivered from there): %w", ErrNotDurable, j.failed)
}

// syncTo makes the journal durable at least up to record id upto (group commit: whoever holds syncMu
// syncs everything written so far, and the waiters behind it usually find their records already synced).
func (j *Journal) syncTo(upto uint64) error {
	j.syncMu.Lock()
	defer j.syncMu.Unlock()
	j.mu.Lock()
	if j.durable >= upto {
		j.mu.Unlock()
		return nil
	}
	if j.failed != nil {
		// Another writer failed meanwhile: these records are in memory now.
		err := j.notDurable()
		j.mu.Unlock()
		return err
	}
	if len(j.unsynced) == 0 {
		j.mu.Unlock()
		return nil
	}
	f, target := j.active, j.written
	last := j.unsynced[len(j.unsynced)-1].ID
	j.mu.Unlock()
	err := f.Sync()
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, r := range j.retired {
		r.Close()
	}
	j.retired = j.retired[:0]
	if j.failed != nil {
		// A write failed while we synced: whatever we synced moved to memory with the rest.
		return j.notDurable()
	}
	if err != nil {
		j.degrade(fmt.Errorf("fsync: %w", err))
		return j.notDurable()
	}
	j.synced = max(j.synced, target)
	j.durable = max(j.durable, last)
	n := 0
	for n < len(j.unsynced) && j.unsynced[n].ID <= last {
		n++
	}
	j.unsynced = append(j.unsynced[:0], j.unsynced[n:]...)
	return nil
}

// degrade switches to keeping records in memory: the records written but not known to be on disk move
// there, and the active segment is taken back to what was last synced (an fsync that failed may have lost
// any page written since, whatever the page cache says). mu held.
func (j *Journal) degrade(cause error) {
	j.stats.WriteErrors++
	if j.failed == nil {
		j.log.Error("journal: cannot write to disk; alarm transitions are kept in memory and delivered from there until it works again",
			"dir", j.dir, "err", cause)
	}
	j.failed = cause
	if len(j.segs) > 0 {
		// Every unsynced record is in the active segment: seal fsyncs a segment before starting the next.
		s := j.segs[len(j.segs)-1]
		if good := j.synced - s.start; good < s.size {
			j.stats.Bytes -= s.size - good
			s.size = good
			j.written = j.synced
		}
		if s.count -= len(j.unsynced); s.count <= 0 {
			s.count, s.last = 0, s.first-1
		} else {
			s.last = j.durable
		}
	}
	if len(j.unsynced) > 0 {
		j.keep(j.unsynced)
		j.unsynced = j.unsynced[:0]
	}
}

// keep adds records to the memory queue, making room under MemoryMax: records every broker has
// acknowledged go first, then older records of a key that has a newer one; the latest record of every key
// is always kept. mu held.
func (j *Journal) keep(recs []Record) {
	for i := range recs {
		j.mem = append(j.mem, recs[i])
		j.memBytes += int64(encodedLen(&recs[i]))
	}
	if j.memBytes <= j.opt.MemoryMax {
		return
	}
	floor := j.minCursorLocked()
	latest := make(map[string]uint64, len(j.mem))
	for i := range j.mem {
		latest[j.mem[i].Key] = j.mem[i].ID
	}
	// A new slice: Readers may hold the old one.
	kept := make([]Record, 0, len(j.mem))
	bytes := j.memBytes
	for i := range j.mem {
		r := &j.mem[i]
		over := bytes > j.opt.MemoryMax
		switch {
		case over && len(j.cursors) > 0 && r.ID <= floor:
			bytes -= int64(encodedLen(r)) // delivered everywhere: nothing waits for it
		case over && latest[r.Key] != r.ID:
			bytes -= int64(encodedLen(r))
			j.stats.Coalesced++
		default:
			kept = append(kept, *r)
		}
	}
	if bytes > j.opt.MemoryMax {
		j.stats.Overflow++
		if j.stats.Overflow == 1 || j.stats.Overflow%1000 == 0 {
			j.log.Warn("journal: memory queue above its bound with only the latest state of each alarm left; keeping them",
				"bytes", bytes, "bound", j.opt.MemoryMax)
		}
	}
	j.mem, j.memBytes = kept, bytes
}

// Retry tries to write the records held in memory, if the journal cannot write; once they are on disk the
// journal is back to normal. It returns why it still cannot write, or nil. Call it periodically.
func (j *Journal) Retry() error {
	j.syncMu.Lock()
	defer j.syncMu.Unlock()
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.failed == nil || j.closed {
		return nil
	}
	if err := j.catchUp(); err != nil {
		j.stats.WriteErrors++
		j.failed = err
		return err
	}
	n := len(j.mem)
	j.failed, j.mem, j.memBytes = nil, nil, 0
	j.log.Info("journal: writing to disk again; transitions held in memory are on disk now", "dir", j.dir, "written", n)
	return nil
}

// catchUp writes mem to disk and fsyncs it. mu and syncMu held.
func (j *Journal) catchUp() error {
	s := j.segs[len(j.segs)-1]
	// Whatever a failed write left after the known-good end goes; then the records are written again.
	if err := j.active.Truncate(s.size); err != nil {
		return fmt.Errorf("truncate: %w", err)
	}
	if len(j.mem) == 0 {
		return nil
	}
	need := j.memBytes
	if err := j.makeRoom(need); err != nil {
		return err
	}
	s = j.segs[len(j.segs)-1]
	buf := make([]byte, 0, need)
	for i := range j.mem {
		buf = appendRecord(buf, &j.mem[i])
	}
	if _, err := j.active.WriteAt(buf, s.size); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := j.active.Sync(); err != nil {
		return fmt.Errorf("fsync: %w", err)
	}
	n := int64(len(buf))
	s.size += n
	s.last = j.mem[len(j.mem)-1].ID
	s.count += len(j.mem)
	j.stats.Bytes += n
	j.written += n
	j.synced = j.written
	j.durable = max(j.durable, s.last)
	return nil
}

// Dir is the journal's directory.
func (j *Journal) Dir() string { return j.dir }

// Err says why the journal cannot write to disk now, or nil when it can.
func (j *Journal) Err() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.failed
}

// makeRoom rotates, drops acknowledged segments and, when the journal would still exceed MaxSize,
// coalesces. Called with mu held.
func (j *Journal) makeRoom(need int64) error {
	s := j.segs[len(j.segs)-1]
	if s.size+need > j.opt.SegmentSize && s.count > 0 {
		if err := j.seal(); err != nil {
			return err
		}
	}
	j.gcLocked()
	if j.stats.Bytes+need <= j.opt.MaxSize {
		return nil
	}
	if j.segs[len(j.segs)-1].count > 0 {
		if err := j.seal(); err != nil {
			return err
		}
	}
	if err := j.compact(); err != nil {
		return err
	}
	if j.stats.Bytes+need > j.opt.MaxSize {
		j.stats.Overflow++
		if j.stats.Overflow == 1 || j.stats.Overflow%1000 == 0 {
			j.log.Warn("journal: above max_size with only the latest state of each alarm left; keeping them",
				"bytes", j.stats.Bytes, "max_size", j.opt.MaxSize)
		}
	}
	return nil
}

// seal fsyncs the active segment and starts a new one. mu held; nothing changes unless it succeeds.
func (j *Journal) seal() error {
	if err := j.active.Sync(); err != nil {
		return fmt.Errorf("fsync: %w", err)
	}
	j.synced = j.written
	if len(j.unsynced) > 0 {
		j.durable = max(j.durable, j.unsynced[len(j.unsynced)-1].ID)
		j.unsynced = j.unsynced[:0]
	}
	return j.startSegment()
}

func (j *Journal) minCursorLocked() uint64 {
	if len(j.cursors) == 0 {
		return 0
	}
	m := uint64(math.MaxUint64)
	for _, c := range j.cursors {
		m = min(m, c)
	}
	return m
}

// gcLocked removes sealed segments every broker has acknowledged completely. The newest segment holding a
// record is always kept, so the journal remembers its latest record (the agent reads the last seq handed
// out from it after a crash).
func (j *Journal) gcLocked() {
	if len(j.cursors) == 0 {
		return // no broker known yet: keep everything
	}
	newest := len(j.segs) - 1
	for newest > 0 && j.segs[newest].count == 0 {
		newest--
	}
	m := j.minCursorLocked()
	n := 0
	for n < len(j.segs)-1 && n < newest && j.segs[n].last <= m {
		n++
	}
	if n == 0 {
		return
	}
	for _, s := range j.segs[:n] {
		if err := j.fs.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			j.log.Warn("journal: cannot remove acknowledged segment", "segment", s.path, "err", err)
			return
		}
		j.stats.Bytes -= s.size
	}
	j.segs = append(j.segs[:0], j.segs[n:]...)
	j.gen++
}

// compact rewrites all sealed segments, keeping records not yet acknowledged by every broker unless a
// newer record of the same key exists (and always the newest record, see gcLocked). mu held.
func (j *Journal) compact() error {
	sealed := j.segs[:len(j.segs)-1]
	if len(sealed) == 0 {
		return nil
	}
	floor := j.minCursorLocked()
	newest := sealed[len(sealed)-1].last
	// Only records already durable count as newer: the incoming ones are not on disk yet, and if this
	// process dies before they are, the previous state must still be there.
	latest := map[string]uint64{}
	err := j.scanLocked(sealed, func(r *Record) {
		if r.ID > floor {
			latest[r.Key] = max(latest[r.Key], r.ID)
		}
	})
	if err != nil {
		return err
	}
	tmp := filepath.Join(j.dir, "compact.tmp")
	f, err := j.fs.OpenFile(tmp, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	out := &segment{path: sealed[0].path, first: sealed[0].first, last: sealed[0].first - 1, size: segHeader, sealed: true}
	var dropped uint64
	buf := appendSegHeader(make([]byte, 0, 64<<10), sealed[len(sealed)-1].last)
	var off int64
	var werr error
	flush := func() {
		if werr == nil && len(buf) > 0 {
			_, werr = f.WriteAt(buf, off)
			off += int64(len(buf))
		}
		buf = buf[:0]
	}
	err = j.scanLocked(sealed, func(r *Record) {
		if r.ID <= floor && r.ID != newest {
			return
		}
		if latest[r.Key] != r.ID && r.ID != newest {
			dropped++
			return
		}
		n := len(buf)
		buf = appendRecord(buf, r)
		out.size += int64(len(buf) - n)
		out.last = r.ID
		out.count++
		if len(buf) >= 64<<10 {
			flush()
		}
	})
	flush()
	if err == nil {
		err = werr
	}
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	if err == nil {
		err = j.fs.Rename(tmp, out.path)
	}
	if err != nil {
		j.fs.Remove(tmp)
		return fmt.Errorf("compact: %w", err)
	}
	// Renamed: the new segment is in place, whatever happens next (a crash leaves leftovers that the
	// "covers" id retires at the next Open).
	if err := j.fs.SyncDir(j.dir); err != nil {
		j.log.Warn("journal: compaction: syncing the directory", "err", err)
	}
	var before int64
	for _, s := range sealed {
		before += s.size
	}
	j.stats.Bytes += out.size - before
	j.stats.Coalesced += dropped
	j.segs = append([]*segment{out}, j.segs[len(j.segs)-1])
	j.gen++
	if testHookAfterRename != nil {
		if err := testHookAfterRename(); err != nil {
			return err
		}
	}
	for _, s := range sealed[1:] {
		j.fs.Remove(s.path)
	}
	j.log.Warn("journal: size limit reached; coalesced older transitions of the same alarms",
		"coalesced", dropped, "bytes_before", before, "bytes_after", out.size, "max_size", j.opt.MaxSize)
	return nil
}

// scanLocked calls fn for every intact record of segs (which are sealed and fully synced).
func (j *Journal) scanLocked(segs []*segment, fn func(*Record)) error {
	for _, s := range segs {
		f, err := j.fs.OpenFile(s.path, os.O_RDONLY, 0)
		if err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		sc := newScanner(f, segHeader, s.size, 0)
		for {
			r, err := sc.next()
			if err == io.EOF || errors.Is(err, errTail) {
				break
			}
			if err != nil {
				f.Close()
				return fmt.Errorf("journal: %s: %w", s.path, err)
			}
			fn(&r)
		}
		f.Close()
	}
	return nil
}

// Stats returns the journal's counters.
func (j *Journal) Stats() Stats {
	j.mu.Lock()
	defer j.mu.Unlock()
	st := j.stats
	st.Segments = len(j.segs)
	st.LastID = j.lastIDLocked()
	st.Memory, st.MemoryBytes = len(j.mem), j.memBytes
	return st
}

// LastID is the highest record id Readers can see, on disk or held in memory (0 when none was ever
// written).
func (j *Journal) LastID() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.lastIDLocked()
}

func (j *Journal) lastIDLocked() uint64 {
	if n := len(j.mem); n > 0 {
		return max(j.durable, j.mem[n-1].ID)
	}
	return j.durable
}

// Close saves the cursors and closes the files. It waits for a running fsync. Records still held in
// memory are written if the disk works again; otherwise they are lost with the process, and the error says
// so.
func (j *Journal) Close() error {
	j.Retry()
	j.syncMu.Lock()
	defer j.syncMu.Unlock()
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	var errs []error
	if j.failed != nil && len(j.mem) > 0 {
		errs = append(errs, fmt.Errorf("journal: %d transitions held in memory could not be written: %w", len(j.mem), j.failed))
	}
	if err := j.saveCursorsLocked(); err != nil {
		errs = append(errs, err)
	}
	if j.failed == nil {
		if e := j.active.Sync(); e != nil {
			errs = append(errs, fmt.Errorf("journal: %w", e))
		}
	}
	j.closeFiles()
	return errors.Join(errs...)
}

func (j *Journal) closeFiles() {
	if j.active != nil {
		j.active.Close()
	}
	for _, r := range j.retired {
		r.Close()
	}
	j.retired = nil
	if j.lock != nil {
		j.lock.Close()
	}
}

// Cursor returns the highest id the named broker acknowledged, and whether it is known.
func (j *Journal) Cursor(name string) (uint64, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	c, ok := j.cursors[name]
	return c, ok
}

// SetBrokers declares the brokers records must reach. A broker seen for the first time starts at the
// oldest record still in the journal; cursors of brokers no longer listed are forgotten (their pending
// records no longer hold the journal back).
func (j *Journal) SetBrokers(names []string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	keep := map[string]bool{}
	for _, n := range names {
		keep[n] = true
		if _, ok := j.cursors[n]; !ok {
			j.cursors[n] = 0
			j.dirty = true
		}
	}
	for n := range j.cursors {
		if !keep[n] {
			j.log.Info("journal: forgetting the cursor of a broker no longer configured", "broker", n)
			delete(j.cursors, n)
			j.dirty = true
		}
	}
}

// Ack records that the named broker acknowledged every record up to id. Cursors are saved by
// Checkpoint and Close; losing one in a crash only means records are sent again (at-least-once).
func (j *Journal) Ack(name string, id uint64) {
	j.mu.Lock()
	if id > j.cursors[name] {
		j.cursors[name] = id
		j.dirty = true
	}
	j.mu.Unlock()
}

// Checkpoint saves the cursors if they changed and drops segments every broker has acknowledged.
func (j *Journal) Checkpoint() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.gcLocked()
	return j.saveCursorsLocked()
}

type cursorFile struct {
	Acked map[string]uint64 `json:"acked"`
}

// maxCursorFile bounds the cursors file read at Open: a few brokers' names and numbers.
const maxCursorFile = 1 << 20

func (j *Journal) readCursors() {
	cs, err := readCursorFile(j.fs, j.dir)
	if err != nil {
		j.log.Warn("journal: cursors unreadable; brokers will be sent the whole journal again", "err", err)
		return
	}
	j.cursors = cs
}

func readCursorFile(fsys FS, dir string) (map[string]uint64, error) {
	b, err := readFile(fsys, filepath.Join(dir, "cursors"))
	if errors.Is(err, os.ErrNotExist) {
		return map[string]uint64{}, nil
	}
	if err != nil {
		return map[string]uint64{}, err
	}
	return parseCursors(b)
}

// parseCursors decodes the cursors file. Anything but a map of names to ids a journal could have reached
// is an error (the caller then sends every broker the whole journal again).
func parseCursors(b []byte) (map[string]uint64, error) {
	if len(b) > maxCursorFile {
		return map[string]uint64{}, fmt.Errorf("cursors file larger than %d bytes", maxCursorFile)
	}
	var cf cursorFile
	if err := json.Unmarshal(b, &cf); err != nil {
		return map[string]uint64{}, err
	}
	if cf.Acked == nil {
		cf.Acked = map[string]uint64{}
	}
	for name, c := range cf.Acked {
		if c > maxID {
			return map[string]uint64{}, fmt.Errorf("cursor of %q is %d, beyond any real journal", name, c)
		}
	}
	return cf.Acked, nil
}

func (j *Journal) saveCursorsLocked() error {
	if !j.dirty {
		return nil
	}
	b, _ := json.Marshal(cursorFile{Acked: j.cursors})
	tmp := filepath.Join(j.dir, "cursors.tmp")
	f, err := j.fs.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("journal: save cursors: %w", err)
	}
	_, err = f.WriteAt(b, 0)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = j.fs.Rename(tmp, filepath.Join(j.dir, "cursors"))
	}
	if err != nil {
		j.fs.Remove(tmp)
		return fmt.Errorf("journal: save cursors: %w", err)
	}
	j.dirty = false
	return nil
}
