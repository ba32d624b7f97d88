package fwbridge

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
)

// Kind is a kind of bad input, counted separately in Counters.
type Kind uint8

// Kinds of bad input. The first six are found by the stream layer, the rest by the driver's session.
const (
	KindGarbage     Kind = iota // bytes outside any frame (counted in bytes)
	KindTruncated               // a frame cut off by the next '$'
	KindTooLong                 // no end of frame within MaxFrame bytes
	KindBadCRC                  // CRC mismatch
	KindSyntax                  // valid CRC, invalid content (also: bad fields in a known frame type)
	KindUnknownType             // a frame type this version does not define
	KindReplay                  // a sequence number that is not newer than the last one (dropped)
	KindLost                    // frames missing, judging by gaps in the sequence numbers
	KindFlood                   // frames dropped because the board sends faster than the rate limit
	numKinds
)

var kindNames = [numKinds]string{"garbage", "truncated", "too_long", "bad_crc", "syntax", "unknown_type", "replayed", "lost", "flood"}

func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "unknown"
}

// Counters counts bad input by kind and logs the first occurrence of each kind once, so a noisy line cannot
// flood the log. The zero value counts without logging. It is safe for concurrent use.
type Counters struct {
	Log    *slog.Logger
	counts [numKinds]atomic.Uint64
	logged [numKinds]atomic.Bool
}

// Add counts n occurrences of kind k and logs the first one with detail and, if not nil, the offending
// bytes. The bytes are turned into text only for that one log line, so counting costs no allocation.
func (c *Counters) Add(k Kind, n uint64, detail string, bad []byte) {
	c.counts[k].Add(n)
	if c.Log != nil && !c.logged[k].Swap(true) {
		args := []any{"kind", k.String(), "detail", detail}
		if bad != nil {
			args = append(args, "input", string(bad))
		}
		c.Log.Warn("fwbridge: bad input from board; further ones of this kind are counted, not logged", args...)
	}
}

// Get returns the count of kind k.
func (c *Counters) Get(k Kind) uint64 { return c.counts[k].Load() }

// Conn is the stream layer: it reads frames from a byte stream with a fixed buffer, skipping and counting
// bad input and resynchronising on the next start byte, and writes frames with increasing sequence numbers.
type Conn struct {
	r       io.Reader
	w       io.Writer
	Counts  *Counters
	buf     [3 * MaxFrame]byte
	start   int
	end     int
	discard bool // after ErrTooLong: drop bytes up to the next '$' without counting them as garbage

	wmu  sync.Mutex
	wseq uint16
	wbuf []byte
}

// NewConn returns a Conn reading from and writing to rw. counts may be nil.
func NewConn(rw io.ReadWriter, counts *Counters) *Conn {
	if counts == nil {
		counts = &Counters{}
	}
	return &Conn{r: rw, w: rw, Counts: counts, wbuf: make([]byte, 0, MaxFrame)}
}

var errKinds = [...]struct {
	err  error
	kind Kind
}{{ErrTruncated, KindTruncated}, {ErrTooLong, KindTooLong}, {ErrBadCRC, KindBadCRC}, {ErrSyntax, KindSyntax}, {ErrUnknownType, KindUnknownType}}

// ReadFrame returns the next valid frame. Bad input is counted and skipped. The frame's Args alias the
// Conn's buffer and are valid until the next call. A read error is returned as is (after the bytes read with
// it have been used); the Conn stays usable, so a caller may treat a timeout as "no data yet" and call again.
func (c *Conn) ReadFrame() (Frame, error) {
	for {
		for c.start < c.end {
			b := c.buf[c.start:c.end]
			if c.discard {
				i := bytes.IndexByte(b, startByte)
				if i < 0 {
					c.start = c.end
					break
				}
				c.start += i
				c.discard = false
				continue
			}
			f, n, err := ParseFrame(b)
			if errors.Is(err, ErrShortFrame) {
				break
			}
			c.start += n
			switch {
			case err == nil:
				return f, nil
			case errors.Is(err, ErrGarbage):
				c.Counts.Add(KindGarbage, uint64(n), "bytes outside a frame", nil)
			case errors.Is(err, ErrTooLong):
				c.discard = true
				c.Counts.Add(KindTooLong, 1, err.Error(), nil)
			default:
				for _, ek := range errKinds {
					if errors.Is(err, ek.err) {
						c.Counts.Add(ek.kind, 1, err.Error(), nil)
					}
				}
			}
		}
		// Keep the unconsumed tail (less than MaxFrame bytes) at the front and read more behind it.
		n := copy(c.buf[:], c.buf[c.start:c.end])
		c.start, c.end = 0, n
		m, err := c.r.Read(c.buf[c.end:])
		c.end += m
		if err != nil && m == 0 {
			return Frame{}, err
		}
	}
}

// EncodeNext encodes a frame with the next sequence number into a new slice, for a caller that writes it
// elsewhere (the driver's writer goroutine).
func (c *Conn) EncodeNext(t Type, args []byte) (uint16, []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	seq := c.wseq
	c.wseq++
	return seq, AppendFrame(make([]byte, 0, len(args)+24), Frame{Seq: seq, Type: t, Args: args})
}

// WriteFrame sends one frame with the next sequence number and returns that number. Args must satisfy
// ValidArgs. It is safe to call from several goroutines.
func (c *Conn) WriteFrame(t Type, args []byte) (uint16, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	seq := c.wseq
	c.wseq++
	c.wbuf = AppendFrame(c.wbuf[:0], Frame{Seq: seq, Type: t, Args: args})
	_, err := c.w.Write(c.wbuf)
	return seq, err
}
