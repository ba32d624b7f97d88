// Package journal is the durable outbox of alarm transitions: an append-only, segmented log in the
// gateway's state directory, with a CRC-32C checksum on every record, group commit (one fsync covers every
// append waiting at that moment), a cursor per broker, and a size bound enforced by coalescing older
// transitions of the same alarm.
//
// Layout of a journal directory:
//
//	00000000000000000001.seg   segments, named by the first record id they may hold
//	cursors                    JSON: per broker, the highest record id it acknowledged
//	lock                       flock'd while a process has the journal open
//
// A segment is a 16-byte header (magic "RWJ1", an 8-byte "covers" id, CRC-32C of the first 12 bytes)
// followed by records:
//
//	uint32 length of payload | uint32 CRC-32C of payload | payload
//	payload = uint64 id | int64 unix nanoseconds | uvarint key length | key | data
//
// All integers are little-endian. Record ids only grow. The fourth byte of the magic is the format version
// (FormatVersion); a segment of a newer format is refused at Open with a message saying so, never misread
// or repaired away.
//
// Damage is found by length, checksum and id order. A torn or corrupt tail (power lost mid-write) is logged
// with its offset and cut off at Open. A damaged record inside a segment (a flipped bit on an SD card) is
// skipped by resynchronising on the next intact record: only the damaged stretch is lost, and it is
// counted and logged with its offset. The newest segment holding a record is never removed, so the journal
// always remembers its latest record.
//
// A disk that cannot be written (full, failing) never stops the journal: Append then keeps the records in
// a bounded memory queue, readable at once, and reports ErrNotDurable; Retry writes them when the disk
// works again. All file access goes through FS, so tests can make the disk fail (package faultfs).
//
// Coalescing rewrites the sealed segments into one whose header "covers" the ids of the segments it
// replaces: it is renamed over the first of them, and the others are deleted. If the process dies between
// the rename and the deletes, Open sees the covers id and deletes the leftovers, so no record is read twice
// or lost.
//
// Why a log and not bbolt: the journal's work is append, fsync, read in order, drop a prefix — exactly a
// log. A log touches only the pages it writes (bbolt maps the whole file, which counts against the
// gateway's few MiB of RSS as it is read), its recovery after a torn write is a few lines that can be
// fuzzed, and its files can be inspected with a hex dump.
package journal
