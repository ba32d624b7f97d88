package journal

import (
	"bufio"
	"fmt"
	"io"
	"os"
)

// Reader reads durable records in id order for one broker. It remembers where the previous Read stopped,
// so reading on from there does not rescan the segment. Not safe for concurrent use.
type Reader struct {
	j    *Journal
	gen  uint64
	path string
	off  int64
	last uint64
	buf  []byte
}

// NewReader returns a Reader over j.
func (j *Journal) NewReader() *Reader { return &Reader{j: j} }

type segView struct {
	path string
	size int64
}

// Read appends to out up to max records with an id above after that are on disk (fsync'd), oldest first.
// The records' Data are the caller's to keep.
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
	gen := j.gen
	j.mu.Unlock()

	for _, v := range views {
		off := int64(segHeader)
		if r.gen == gen && r.path == v.path && r.last == after && r.off <= v.size {
			off = r.off
		}
		f, err := os.Open(v.path)
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
		br := bufio.NewReaderSize(io.NewSectionReader(f, off, v.size-off), 16<<10)
		for len(out) < max {
			rec, n, err := readRecord(br, &r.buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				f.Close()
				return out, false, fmt.Errorf("journal: read %s at %d: %w", v.path, off, err)
			}
			off += int64(n)
			if rec.ID <= after {
				continue
			}
			rec.Data = append([]byte(nil), rec.Data...)
			out = append(out, rec)
			after = rec.ID
		}
		f.Close()
		r.gen, r.path, r.off, r.last = gen, v.path, off, after
		if len(out) >= max {
			break
		}
	}
	return out, false, nil
}
