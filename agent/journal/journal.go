package journal

import (
	"bufio"
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

// Options tunes a journal.
type Options struct {
	// MaxSize bounds the bytes on disk; above it, older records of an alarm that has a newer one are
	// coalesced away. The latest record of every key is kept even if that exceeds MaxSize. 64 MiB if zero.
	MaxSize int64
	// SegmentSize is the size at which a new segment is started; MaxSize/16 clamped to [64 KiB, 4 MiB] if
	// zero.
	SegmentSize int64
	Log         *slog.Logger
}

// Stats are the journal's counters, for metrics.
type Stats struct {
	Bytes     int64  // on disk, all segments
	Segments  int    //
	LastID    uint64 // highest durable record id
	Coalesced uint64 // records dropped because a newer record of the same key was kept
	Overflow  uint64 // appends that left the journal above MaxSize (every key's latest state kept)
	Corrupt   uint64 // torn or corrupt tails cut off at Open
}

type segment struct {
	path   string
	first  uint64 // from the file name
	last   uint64 // highest record id in it; first-1 when empty
	count  int
	size   int64
	start  int64 // logical offset (over all segments ever written) of byte 0
	sealed bool
}

// Journal is an open journal directory. Its methods are safe for concurrent use.
type Journal struct {
	dir  string
	opt  Options
	log  *slog.Logger
	lock *os.File

	syncMu sync.Mutex // held by the one goroutine running fsync (group commit)

	mu      sync.Mutex
	segs    []*segment // in id order; the last one is active
	active  *os.File
	retired []*os.File // sealed files, closed after the running fsync
	written int64      // logical bytes written
	synced  int64      // logical bytes fsync'd
	nextID  uint64
	durable uint64 // highest fsync'd id
	gen     uint64 // bumped when segments are rewritten or removed
	cursors map[string]uint64
	dirty   bool
	wbuf    []byte
	stats   Stats
	closed  bool
	notify  []chan struct{}
	failed  error
}

// Open opens (creating if needed) the journal in dir and recovers it: a torn or corrupt tail is logged
// and cut off. Only one process may have a journal open.
func Open(dir string, opt Options) (*Journal, error) {
	if opt.MaxSize <= 0 {
		opt.MaxSize = 64 << 20
	}
	if opt.SegmentSize <= 0 {
		opt.SegmentSize = min(max(opt.MaxSize/16, 64<<10), 4<<20)
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("journal: %s is in use by another rackwatch process: %w", dir, err)
	}
	j := &Journal{dir: dir, opt: opt, log: opt.Log, lock: lock, cursors: map[string]uint64{}, nextID: 1}
	if err := j.recover(); err != nil {
		j.closeFiles()
		return nil, err
	}
	return j, nil
}

func segName(first uint64) string { return fmt.Sprintf("%020d.seg", first) }

// listSegments returns the segment files of dir in id order, applying the "covers" rule of compaction:
// leftovers replaced by a compacted segment are returned in stale.
func listSegments(dir string) (segs []*segment, stale []string, err error) {
	ents, err := os.ReadDir(dir)
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
		if err != nil || first == 0 {
			continue
		}
		segs = append(segs, &segment{path: filepath.Join(dir, name), first: first, last: first - 1, sealed: true})
	}
	sort.Slice(segs, func(a, b int) bool { return segs[a].first < segs[b].first })
	return segs, stale, nil
}

func (j *Journal) recover() error {
	segs, stale, err := listSegments(j.dir)
	if err != nil {
		return err
	}
	for _, p := range stale {
		os.Remove(p)
	}
	var kept []*segment
	var covered uint64
	var prev uint64
	for i, s := range segs {
		if s.first <= covered {
			j.log.Info("journal: removing segment replaced by compaction", "segment", s.path)
			if err := os.Remove(s.path); err != nil {
				return fmt.Errorf("journal: %w", err)
			}
			continue
		}
		last := i == len(segs)-1
		cov, err := j.scanSegment(s, prev, last)
		if err != nil {
			return err
		}
		if cov > covered {
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
			os.Remove(p)
		}
	}
	return nil
}

// scanSegment validates s, truncating it at the first bad record. prev is the highest id before it.
func (j *Journal) scanSegment(s *segment, prev uint64, last bool) (covers uint64, err error) {
	f, err := os.OpenFile(s.path, os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("journal: %w", err)
	}
	br := bufio.NewReaderSize(f, 64<<10)
	hdr := make([]byte, segHeader)
	if _, err := io.ReadFull(br, hdr); err != nil {
		// A segment created but never written (crash right after creating it).
		j.log.Warn("journal: segment without a header; resetting it", "segment", s.path, "size", st.Size())
		j.stats.Corrupt++
		return 0, j.resetSegment(f, s)
	}
	covers, err = parseSegHeader(hdr)
	if err != nil {
		j.log.Error("journal: segment header is corrupt; its records are lost", "segment", s.path)
		j.stats.Corrupt++
		return 0, j.resetSegment(f, s)
	}
	off := int64(segHeader)
	var bad error
	var buf []byte
	for {
		r, n, err := readRecord(br, &buf)
		if err == io.EOF {
			break
		}
		if err == nil && r.ID <= prev {
			err = fmt.Errorf("%w: id %d after %d", ErrBadRec, r.ID, prev)
		}
		if err != nil {
			bad = err
			break
		}
		prev = r.ID
		s.last = r.ID
		s.count++
		off += int64(n)
	}
	s.size = off
	if bad != nil {
		j.stats.Corrupt++
		j.log.Warn("journal: discarding a torn or corrupt tail", "segment", s.path, "offset", off,
			"discarded_bytes", st.Size()-off, "reason", bad)
		if err := f.Truncate(off); err != nil {
			return 0, fmt.Errorf("journal: %w", err)
		}
		if err := f.Sync(); err != nil {
			return 0, fmt.Errorf("journal: %w", err)
		}
	}
	return covers, nil
}

func (j *Journal) resetSegment(f *os.File, s *segment) error {
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if _, err := f.WriteAt(appendSegHeader(nil, 0), 0); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	s.size = segHeader
	return f.Sync()
}

// readRecord reads one record from br into *buf. io.EOF means a clean end.
func readRecord(br *bufio.Reader, buf *[]byte) (Record, int, error) {
	h, err := br.Peek(recHeader)
	if len(h) == 0 && err == io.EOF {
		return Record{}, 0, io.EOF
	}
	if len(h) < recHeader {
		return Record{}, 0, ErrTorn
	}
	n := int(uint32(h[0]) | uint32(h[1])<<8 | uint32(h[2])<<16 | uint32(h[3])<<24)
	if n < 17 || n > maxPayload {
		return Record{}, 0, fmt.Errorf("%w: length %d", ErrBadRec, n)
	}
	if cap(*buf) < recHeader+n {
		*buf = make([]byte, recHeader+n)
	}
	b := (*buf)[:recHeader+n]
	if _, err := io.ReadFull(br, b); err != nil {
		return Record{}, 0, ErrTorn
	}
	return parseRecord(b)
}

func (j *Journal) startSegment() error {
	s := &segment{path: filepath.Join(j.dir, segName(j.nextID)), first: j.nextID, last: j.nextID - 1}
	f, err := os.OpenFile(s.path, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if _, err := f.Write(appendSegHeader(nil, 0)); err != nil {
		f.Close()
		return fmt.Errorf("journal: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("journal: %w", err)
	}
	if err := syncDir(j.dir); err != nil {
		f.Close()
		return err
	}
	if len(j.segs) > 0 {
		j.segs[len(j.segs)-1].sealed = true
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

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("journal: sync dir: %w", err)
	}
	return nil
}

// Append assigns ids to recs (setting their ID fields), writes them and returns once they are on disk
// (fsync'd). Concurrent Appends share one fsync.
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
	if j.failed != nil {
		err := j.failed
		j.mu.Unlock()
		return err
	}
	need := int64(0)
	for i := range recs {
		need += int64(encodedLen(&recs[i]))
	}
	if err := j.makeRoom(need); err != nil {
		j.mu.Unlock()
		return err
	}
	j.wbuf = j.wbuf[:0]
	for i := range recs {
		recs[i].ID = j.nextID
		j.nextID++
		j.wbuf = appendRecord(j.wbuf, &recs[i])
	}
	if _, err := j.active.Write(j.wbuf); err != nil {
		// A short write leaves garbage that the next Open cuts off; stop appending to this file.
		j.failed = fmt.Errorf("journal: write: %w", err)
		j.mu.Unlock()
		return j.failed
	}
	if cap(j.wbuf) > 1<<20 {
		j.wbuf = nil // a rare huge batch should not pin its buffer
	}
	if assigned != nil {
		assigned(recs)
	}
	s := j.segs[len(j.segs)-1]
	s.size += int64(len(j.wbuf))
	s.last = recs[len(recs)-1].ID
	s.count += len(recs)
	j.stats.Bytes += int64(len(j.wbuf))
	j.written += int64(len(j.wbuf))
	end := j.written
	j.mu.Unlock()
	return j.syncTo(end)
}

// syncTo makes the journal durable at least up to logical offset end (group commit: whoever holds syncMu
// syncs everything written so far, and the waiters behind it usually find their bytes already synced).
func (j *Journal) syncTo(end int64) error {
	j.syncMu.Lock()
	defer j.syncMu.Unlock()
	j.mu.Lock()
	if j.synced >= end {
		j.mu.Unlock()
		return nil
	}
	f, target, upto := j.active, j.written, j.nextID-1
	j.mu.Unlock()
	err := f.Sync()
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, r := range j.retired {
		r.Close()
	}
	j.retired = j.retired[:0]
	if err != nil {
		j.failed = fmt.Errorf("journal: fsync: %w", err)
		return j.failed
	}
	if target > j.synced {
		j.synced = target
		j.durable = max(j.durable, upto)
	}
	return nil
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

// seal fsyncs the active segment and starts a new one. mu held.
func (j *Journal) seal() error {
	if err := j.active.Sync(); err != nil {
		j.failed = fmt.Errorf("journal: fsync: %w", err)
		return j.failed
	}
	j.synced = j.written
	j.durable = j.nextID - 1
	j.retired = append(j.retired, j.active)
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

// gcLocked removes sealed segments every broker has acknowledged completely.
func (j *Journal) gcLocked() {
	if len(j.cursors) == 0 {
		return // no broker known yet: keep everything
	}
	m := j.minCursorLocked()
	n := 0
	for n < len(j.segs)-1 && j.segs[n].last <= m {
		n++
	}
	if n == 0 {
		return
	}
	for _, s := range j.segs[:n] {
		if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			j.log.Warn("journal: cannot remove acknowledged segment", "segment", s.path, "err", err)
			return
		}
		j.stats.Bytes -= s.size
	}
	j.segs = append(j.segs[:0], j.segs[n:]...)
	j.gen++
}

// compact rewrites all sealed segments, keeping records not yet acknowledged by every broker unless a
// newer record of the same key exists. mu held.
func (j *Journal) compact() error {
	sealed := j.segs[:len(j.segs)-1]
	if len(sealed) == 0 {
		return nil
	}
	floor := j.minCursorLocked()
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
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	w := bufio.NewWriterSize(f, 64<<10)
	w.Write(appendSegHeader(nil, sealed[len(sealed)-1].last))
	out := &segment{path: sealed[0].path, first: sealed[0].first, last: sealed[0].first - 1, size: segHeader, sealed: true}
	var dropped uint64
	var enc []byte
	err = j.scanLocked(sealed, func(r *Record) {
		if r.ID <= floor {
			return
		}
		if latest[r.Key] != r.ID {
			dropped++
			return
		}
		enc = appendRecord(enc[:0], r)
		w.Write(enc)
		out.size += int64(len(enc))
		out.last = r.ID
		out.count++
	})
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	if err == nil {
		err = os.Rename(tmp, out.path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("journal: compact: %w", err)
	}
	if err := syncDir(j.dir); err != nil {
		return err
	}
	if testHookAfterRename != nil {
		if err := testHookAfterRename(); err != nil {
			return err
		}
	}
	for _, s := range sealed[1:] {
		os.Remove(s.path)
	}
	var before int64
	for _, s := range sealed {
		before += s.size
	}
	j.stats.Bytes += out.size - before
	j.stats.Coalesced += dropped
	rest := append([]*segment{out}, j.segs[len(j.segs)-1])
	j.segs = rest
	j.gen++
	j.log.Warn("journal: size limit reached; coalesced older transitions of the same alarms",
		"coalesced", dropped, "bytes_before", before, "bytes_after", out.size, "max_size", j.opt.MaxSize)
	return nil
}

// scanLocked calls fn for every record of segs (which are sealed and fully synced).
func (j *Journal) scanLocked(segs []*segment, fn func(*Record)) error {
	var buf []byte
	for _, s := range segs {
		f, err := os.Open(s.path)
		if err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		br := bufio.NewReaderSize(io.NewSectionReader(f, segHeader, s.size-segHeader), 32<<10)
		for {
			r, _, err := readRecord(br, &buf)
			if err == io.EOF {
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
	st.LastID = j.durable
	return st
}

// LastID is the highest durable record id (0 when none was ever written).
func (j *Journal) LastID() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.durable
}

// Close saves the cursors and closes the files. It waits for a running fsync.
func (j *Journal) Close() error {
	j.syncMu.Lock()
	defer j.syncMu.Unlock()
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	err := j.saveCursorsLocked()
	if e := j.active.Sync(); e != nil && err == nil {
		err = fmt.Errorf("journal: %w", e)
	}
	j.closeFiles()
	return err
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

func (j *Journal) readCursors() {
	cs, err := readCursorFile(j.dir)
	if err != nil {
		j.log.Warn("journal: cursors unreadable; brokers will be sent the whole journal again", "err", err)
		return
	}
	j.cursors = cs
}

func readCursorFile(dir string) (map[string]uint64, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cursors"))
	if errors.Is(err, os.ErrNotExist) {
		return map[string]uint64{}, nil
	}
	if err != nil {
		return map[string]uint64{}, err
	}
	var cf cursorFile
	if err := json.Unmarshal(b, &cf); err != nil {
		return map[string]uint64{}, err
	}
	if cf.Acked == nil {
		cf.Acked = map[string]uint64{}
	}
	return cf.Acked, nil
}

func (j *Journal) saveCursorsLocked() error {
	if !j.dirty {
		return nil
	}
	b, _ := json.Marshal(cursorFile{Acked: j.cursors})
	tmp := filepath.Join(j.dir, "cursors.tmp")
	if err := os.WriteFile(tmp, b, 0o640); err != nil {
		return fmt.Errorf("journal: save cursors: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(j.dir, "cursors")); err != nil {
		return fmt.Errorf("journal: save cursors: %w", err)
	}
	j.dirty = false
	return nil
}
