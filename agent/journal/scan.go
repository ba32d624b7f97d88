package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// errTail reports that a segment's bytes from some offset to its end hold no intact record: a record cut
// short by a power loss, or damage that reaches the end.
var errTail = errors.New("journal: no intact record up to the end of the segment")

// scanWindow is how much of a segment a scanner reads at a time.
const scanWindow = 64 << 10

// scanner reads the records of one segment in order, from an offset up to end. A damaged stretch (a
// length, checksum or id that is wrong) is skipped by resynchronising on the next intact record: damage in
// the middle of a segment costs only the damaged record(s), never the records after it. Damage that runs
// to the end is reported as errTail.
//
// A candidate must pass the length bounds, the CRC-32C of its payload and have an id above the previous
// record's: on random bytes the first two alone let through about one offset in 2^44.
type scanner struct {
	r    io.ReaderAt
	end  int64  // bytes of the segment that may be read
	off  int64  // where the next record starts
	prev uint64 // a record must have an id above this one

	buf    []byte // a window: bytes [winOff, winOff+len(buf)) of the segment
	winOff int64

	// Set by next when it skipped damage before the record it returned, or found a tail.
	skipOff int64
	skipped int64
	skipWhy error
}

func newScanner(r io.ReaderAt, off, end int64, prev uint64) *scanner {
	return &scanner{r: r, off: off, end: end, prev: prev}
}

// next returns the next intact record; its Key is a copy, its Data aliases the scanner's buffer until the
// next call. io.EOF is a clean end. errTail means no intact record follows s.skipOff.
func (s *scanner) next() (Record, error) {
	s.skipped, s.skipWhy = 0, nil
	if s.off >= s.end {
		return Record{}, io.EOF
	}
	r, n, err := s.at(s.off)
	if err == nil {
		s.off += int64(n)
		s.prev = r.ID
		return r, nil
	}
	start := s.off
	for p := start + 1; p+recHeader+17 <= s.end; p++ {
		r, n, perr := s.at(p)
		if perr != nil {
			if errors.Is(perr, errRead) {
				return Record{}, perr
			}
			continue
		}
		s.skipOff, s.skipped, s.skipWhy = start, p-start, err
		s.off = p + int64(n)
		s.prev = r.ID
		return r, nil
	}
	if errors.Is(err, errRead) {
		return Record{}, err
	}
	s.skipOff, s.skipped, s.skipWhy = start, s.end-start, err
	return Record{}, errTail
}

// errRead wraps an I/O error of the underlying file (not damage: the bytes could not be read at all).
var errRead = errors.New("journal: read")

// at parses the record at off.
func (s *scanner) at(off int64) (Record, int, error) {
	h, err := s.bytes(off, recHeader)
	if err != nil {
		return Record{}, 0, err
	}
	n := int64(binary.LittleEndian.Uint32(h))
	if n < 17 || n > maxPayload {
		return Record{}, 0, fmt.Errorf("%w: length %d", ErrBadRec, n)
	}
	if off+recHeader+n > s.end {
		return Record{}, 0, ErrTorn
	}
	b, err := s.bytes(off, int(recHeader+n))
	if err != nil {
		return Record{}, 0, err
	}
	r, m, err := parseRecord(b)
	if err == nil && r.ID <= s.prev {
		err = fmt.Errorf("%w: id %d after %d", ErrBadRec, r.ID, s.prev)
	}
	return r, m, err
}

// bytes returns the segment's bytes [off, off+n), reading a new window when they are not in the current
// one. Fewer than n bytes before end is ErrTorn.
func (s *scanner) bytes(off int64, n int) ([]byte, error) {
	if off+int64(n) > s.end {
		return nil, ErrTorn
	}
	if off >= s.winOff && off+int64(n) <= s.winOff+int64(len(s.buf)) {
		return s.buf[off-s.winOff : off-s.winOff+int64(n)], nil
	}
	size := int(min(int64(max(n, scanWindow)), s.end-off))
	if cap(s.buf) < size {
		s.buf = make([]byte, size)
	}
	s.buf = s.buf[:size]
	m, err := s.r.ReadAt(s.buf, off)
	if m < size {
		s.buf, s.winOff = s.buf[:0], 0
		if err == nil || err == io.EOF {
			return nil, ErrTorn // the file is shorter than it was said to be
		}
		return nil, fmt.Errorf("%w: %w", errRead, err)
	}
	s.winOff = off
	return s.buf[:n], nil
}
