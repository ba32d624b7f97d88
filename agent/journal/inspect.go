package journal

import (
	"bufio"
	"errors"
	"io"
	"os"
)

// Snapshot is what a journal directory holds, read without modifying it (safe while an agent runs).
type Snapshot struct {
	// Cursors maps each broker to the highest record id it acknowledged.
	Cursors map[string]uint64
	// Records are all intact records on disk, oldest first (acknowledged ones included).
	Records []Record
	// Bytes is the size of the segments; Damaged counts segments ending in a torn or corrupt tail.
	Bytes   int64
	Damaged int
}

// Inspect reads the journal in dir without locking or repairing it.
func Inspect(dir string) (*Snapshot, error) {
	segs, _, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	snap := &Snapshot{}
	if snap.Cursors, err = readCursorFile(dir); err != nil {
		return nil, err
	}
	var covered, prev uint64
	var buf []byte
	for i, s := range segs {
		if s.first <= covered {
			continue
		}
		f, err := os.Open(s.path)
		if err != nil {
			continue // removed meanwhile by the running agent
		}
		if st, err := f.Stat(); err == nil {
			snap.Bytes += st.Size()
		}
		br := bufio.NewReaderSize(f, 32<<10)
		hdr := make([]byte, segHeader)
		if _, err := io.ReadFull(br, hdr); err != nil {
			f.Close()
			continue
		}
		cov, err := parseSegHeader(hdr)
		if err != nil {
			snap.Damaged++
			f.Close()
			continue
		}
		covered = max(covered, cov)
		for {
			r, _, err := readRecord(br, &buf)
			if err == io.EOF {
				break
			}
			if err != nil || r.ID <= prev {
				// A record cut short at the end of the newest segment is usually one being written
				// right now by the running agent, not damage.
				if !(i == len(segs)-1 && errors.Is(err, ErrTorn)) {
					snap.Damaged++
				}
				break
			}
			prev = r.ID
			r.Data = append([]byte(nil), r.Data...)
			snap.Records = append(snap.Records, r)
		}
		f.Close()
	}
	return snap, nil
}
