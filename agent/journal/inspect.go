package journal

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Snapshot is what a journal directory holds, read without modifying it (safe while an agent runs).
type Snapshot struct {
	// Cursors maps each broker to the highest record id it acknowledged.
	Cursors map[string]uint64
	// Records are all intact records on disk, oldest first (acknowledged ones included).
	Records []Record
	// Bytes is the size of the segments; Damaged counts damaged stretches (inside segments, or a corrupt
	// tail that is not simply the record being written right now).
	Bytes   int64
	Damaged int
}

// Inspect reads the journal in dir without locking or repairing it.
func Inspect(dir string) (*Snapshot, error) {
	snap := &Snapshot{}
	var err error
	if snap.Cursors, err = readCursorFile(OS, dir); err != nil {
		return nil, err
	}
	info, err := Scan(OS, dir, func(r *Record) error {
		r.Data = append([]byte(nil), r.Data...)
		snap.Records = append(snap.Records, *r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	snap.Bytes, snap.Damaged = info.Bytes, info.Damaged
	return snap, nil
}

// ScanInfo sums up a Scan.
type ScanInfo struct {
	Bytes   int64 // size of the segments
	Damaged int   // damaged stretches skipped (a torn record at the end of the newest segment is not one)
	LastID  uint64
}

// Scan calls fn for every intact record of the journal in dir, oldest first, without locking or repairing
// anything: it is safe while an agent runs, and before one opens the journal. The record's Data is only
// valid during the call. An error from fn stops the scan and is returned. A segment in a newer format is
// an error (ErrNewerFormat); a directory that does not exist is an empty journal.
func Scan(fsys FS, dir string, fn func(r *Record) error) (ScanInfo, error) {
	var info ScanInfo
	segs, _, err := listSegments(fsys, dir)
	if errors.Is(err, os.ErrNotExist) {
		return info, nil
	}
	if err != nil {
		return info, err
	}
	var covered, prev uint64
	hdr := make([]byte, segHeader)
	for i, s := range segs {
		if s.first <= covered {
			continue
		}
		f, err := fsys.OpenFile(s.path, os.O_RDONLY, 0)
		if err != nil {
			continue // removed meanwhile by the running agent
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			continue
		}
		info.Bytes += st.Size()
		if _, err := f.ReadAt(hdr, 0); err != nil {
			f.Close()
			continue
		}
		cov, err := parseSegHeader(hdr)
		if errors.Is(err, ErrNewerFormat) {
			f.Close()
			return info, fmt.Errorf("journal: segment %s: %w", s.path, err)
		}
		if err != nil {
			info.Damaged++ // its records are still read below
		} else if cov <= maxID {
			covered = max(covered, cov)
		}
		sc := newScanner(f, segHeader, st.Size(), prev)
		for {
			r, err := sc.next()
			if err == io.EOF {
				break
			}
			if errors.Is(err, errTail) {
				// A record cut short at the end of the newest segment is usually one being written right
				// now by the running agent, not damage.
				if !(i == len(segs)-1 && errors.Is(sc.skipWhy, ErrTorn)) {
					info.Damaged++
				}
				break
			}
			if err != nil {
				f.Close()
				return info, fmt.Errorf("journal: %s: %w", s.path, err)
			}
			if sc.skipped > 0 {
				info.Damaged++
			}
			prev = r.ID
			info.LastID = r.ID
			if err := fn(&r); err != nil {
				f.Close()
				return info, err
			}
		}
		f.Close()
	}
	return info, nil
}
