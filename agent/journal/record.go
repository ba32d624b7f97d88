package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"
)

// Record is one journal entry: an alarm transition, named by its alarm key, with its JSON as Data.
type Record struct {
	// ID is assigned by Append; it only grows, across restarts.
	ID   uint64
	Time time.Time
	// Key names the alarm; under pressure, older records with the same Key are coalesced away.
	Key  string
	Data []byte
}

const (
	recHeader  = 8
	segHeader  = 16
	maxPayload = 1 << 20
)

// FormatVersion is the journal format this code writes, and the newest it reads: the fourth byte of every
// segment's magic. Format 1 ("RWJ1") is the only one so far. A segment of a newer format, written by a
// newer rackwatch, is refused at Open rather than misread or repaired away.
const FormatVersion = 1

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	segMagic   = [4]byte{'R', 'W', 'J', '0' + FormatVersion}
)

// Corruption errors found while reading records.
var (
	ErrTorn     = errors.New("journal: record cut short")
	ErrChecksum = errors.New("journal: checksum mismatch")
	ErrBadRec   = errors.New("journal: malformed record")
)

// ErrNewerFormat is the error of a segment written in a newer format than this code reads.
var ErrNewerFormat = errors.New("journal: written by a newer rackwatch")

func encodedLen(r *Record) int {
	return recHeader + 16 + uvarintLen(uint64(len(r.Key))) + len(r.Key) + len(r.Data)
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// appendRecord encodes r (with its ID set) onto dst.
func appendRecord(dst []byte, r *Record) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0)
	dst = binary.LittleEndian.AppendUint64(dst, r.ID)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(r.Time.UnixNano()))
	dst = binary.AppendUvarint(dst, uint64(len(r.Key)))
	dst = append(dst, r.Key...)
	dst = append(dst, r.Data...)
	payload := dst[start+recHeader:]
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(payload, castagnoli))
	return dst
}

// parseRecord decodes the record at the start of b. It returns the record (Key and Data alias b), its
// encoded length, or an error when b holds no complete, intact record. It never reads past b.
func parseRecord(b []byte) (Record, int, error) {
	if len(b) < recHeader {
		return Record{}, 0, ErrTorn
	}
	n := binary.LittleEndian.Uint32(b)
	if n < 17 || n > maxPayload {
		return Record{}, 0, fmt.Errorf("%w: length %d", ErrBadRec, n)
	}
	if uint64(len(b)-recHeader) < uint64(n) {
		return Record{}, 0, ErrTorn
	}
	p := b[recHeader : recHeader+int(n)]
	if crc32.Checksum(p, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return Record{}, 0, ErrChecksum
	}
	r := Record{ID: binary.LittleEndian.Uint64(p), Time: time.Unix(0, int64(binary.LittleEndian.Uint64(p[8:])))}
	kl, m := binary.Uvarint(p[16:])
	if m <= 0 || kl > uint64(len(p)-16-m) {
		return Record{}, 0, fmt.Errorf("%w: key length", ErrBadRec)
	}
	k := p[16+m:]
	r.Key = string(k[:kl])
	r.Data = k[kl:]
	return r, recHeader + int(n), nil
}

func appendSegHeader(dst []byte, covers uint64) []byte {
	start := len(dst)
	dst = append(dst, segMagic[:]...)
	dst = binary.LittleEndian.AppendUint64(dst, covers)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

func parseSegHeader(b []byte) (covers uint64, err error) {
	if len(b) < segHeader {
		return 0, ErrTorn
	}
	if [3]byte(b[:3]) != [3]byte(segMagic[:3]) || crc32.Checksum(b[:12], castagnoli) != binary.LittleEndian.Uint32(b[12:]) {
		return 0, fmt.Errorf("%w: bad segment header", ErrBadRec)
	}
	if v := b[3]; v != segMagic[3] {
		if v > segMagic[3] && v <= '9' {
			return 0, fmt.Errorf("%w: format %c, and this rackwatch reads format %d", ErrNewerFormat, v, FormatVersion)
		}
		return 0, fmt.Errorf("%w: bad segment header", ErrBadRec)
	}
	return binary.LittleEndian.Uint64(b[4:]), nil
}
