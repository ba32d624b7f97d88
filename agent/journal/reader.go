package journal

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Reader reads records in id order for one broker: the durable ones from disk, then those held in memory
// while the disk cannot be written. It remembers where the previous Read stopped, so reading on from there
// does not rescan the segment. Not safe for concurrent use.
type Reader struct {
	j    *Journal
	gen  uint64
	path string
	off  int64
	last uint64
}

// NewReader returns a Reader over j.
func (j *Journal) NewReader() *Reader { return &Reader{j: j} }

type segView struct {
	path string
	size int64
}

// Read appends to out up to max records with an id above after, oldest first: those on disk (fsync'd),
// then those held in memory. The records' Data are the caller's to keep.
func (r *Reader) Read(after uint64, max int, out []Record) ([]Record, error) {
	n := len(out)
	for attempt := 0; ; attempt++ {
		res, again, err := r.read(after, max, out[:n])
		if !again || attempt == 10 {
			return res, err
		}
	}
}

// read is one attempt; again reports that a compaction changed the files meanwhile.
func (r *Reader) read(after uint64, max int, out []Record) (_ []Record, again bool, _ error) {
	j := r.j
	j.mu.Lock()
	var views []segView
	for _, s := range j.segs {
		if s.count == 0 || s.last <= after {
			continue
		}
		size := s.size
		if !s.sealed {
			size = min(size, j.synced-s.start)
		}
		views = append(views, segView{s.path, size})
	}
	// The memory queue is replaced, never changed in place: this snapshot stays valid. Its ids are all
	// above those on disk.
	mem := j.mem
	gen := j.gen
	j.mu.Unlock()

	for _, v := range views {
		off := int64(segHeader)
		prev := uint64(0)
		if r.gen == gen && r.path == v.path && r.last == after && r.off <= v.size {
			off, prev = r.off, r.last
		}
		f, err := j.fs.OpenFile(v.path, os.O_RDONLY, 0)
		j.mu.Lock()
		changed := j.gen != gen
		j.mu.Unlock()
		if err != nil || changed {
			// Rewritten by a compaction since the snapshot (once open, the file we hold stays as it
			// was): start again from the new layout.
			if f != nil {
				f.Close()
			}
			r.gen = 0
			return out, true, nil
		}
		sc := newScanner(f, off, v.size, prev)
		for len(out) < max {
			rec, err := sc.next()
			if err == io.EOF || errors.Is(err, errTail) {
				break
			}
			if err != nil {
				f.Close()
				return out, false, fmt.Errorf("journal: read %s at %d: %w", v.path, sc.off, err)
			}
			if rec.ID <= after {
				continue
			}
			rec.Data = append([]byte(nil), rec.Data...)
			out = append(out, rec)
			after = rec.ID
		}
		f.Close()
		r.gen, r.path, r.off, r.last = gen, v.path, sc.off, after
		if len(out) >= max {
			return out, false, nil
		}
	}
	for i := range mem {
		if len(out) >= max {
			break
		}
		if mem[i].ID > after {
			out = append(out, mem[i])
			after = mem[i].ID
		}
	}
	return out, false, nil
}
