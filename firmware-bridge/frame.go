package fwbridge

import (
	"bytes"
	"strconv"
)

// ProtocolVersion is the version of PROTOCOL.md this host speaks. A board announcing another version in its
// HELLO frame is refused with ErrVersion; the HELLO frame's layout is frozen across versions so that this
// check always works.
const ProtocolVersion = 1

// MaxFrame is the longest frame, from '$' to '\n' inclusive. It is small so an 8-bit board with 2 KiB of RAM
// can hold one frame in and one frame out.
const MaxFrame = 128

// Frame delimiters and the CRC separator.
const (
	startByte = '$'
	crcByte   = '*'
	endByte   = '\n'
)

// Error is the type of the codec's sentinel errors; compare with errors.Is.
type Error string

func (e Error) Error() string { return string(e) }

// Sentinel errors returned by ParseFrame and the stream layer.
const (
	// ErrShortFrame means the bytes end before the frame does: read more and try again. It is not bad input.
	ErrShortFrame Error = "fwbridge: short frame"
	// ErrGarbage means bytes before a start byte were skipped (line noise, a boot banner, a half frame).
	ErrGarbage Error = "fwbridge: garbage before start byte"
	// ErrTruncated means a new '$' arrived before the frame's end: the earlier frame was cut off.
	ErrTruncated Error = "fwbridge: truncated frame"
	// ErrTooLong means no end of frame within MaxFrame bytes.
	ErrTooLong Error = "fwbridge: frame longer than maximum"
	// ErrBadCRC means the frame's CRC does not match its content.
	ErrBadCRC Error = "fwbridge: bad CRC"
	// ErrSyntax means the frame has a valid CRC but no valid sequence number, type or CRC field.
	ErrSyntax Error = "fwbridge: malformed frame"
	// ErrUnknownType means a well-formed frame has a type this version does not define.
	ErrUnknownType Error = "fwbridge: unknown frame type"
	// ErrVersion means the board speaks a protocol version this host does not.
	ErrVersion Error = "fwbridge: unsupported protocol version"
)

// Type is a frame's type word.
type Type uint8

// Frame types; PROTOCOL.md §4 says who sends which and what the fields are.
const (
	TypeInvalid   Type = iota
	TypeHello          // HELLO: handshake (both directions)
	TypeChannel        // CH: one channel of the board's list
	TypeReading        // R: index,value pairs
	TypeReadError      // E: a channel the board cannot read, with a reason
	TypeHeartbeat      // HB: board uptime (board→host) or host-alive (host→board)
	TypeAlarm          // ALM: a board-side alarm (fail-safe tripped or released)
	TypeAck            // ACK: a command was applied
	TypeNak            // NAK: a command was refused, with a code
	TypeErr            // ERR: the board could not read a host frame
	TypeSet            // SET: set a board parameter
	TypeOut            // OUT: drive an output
	TypeFailsafe       // FS: set or clear a board-side fail-safe
	numTypes
)

var typeNames = [numTypes]string{"", "HELLO", "CH", "R", "E", "HB", "ALM", "ACK", "NAK", "ERR", "SET", "OUT", "FS"}

func (t Type) String() string {
	if t < numTypes && t != TypeInvalid {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

func lookupType(b []byte) Type {
	// A switch on string(b) does not allocate.
	switch string(b) {
	case "HELLO":
		return TypeHello
	case "CH":
		return TypeChannel
	case "R":
		return TypeReading
	case "E":
		return TypeReadError
	case "HB":
		return TypeHeartbeat
	case "ALM":
		return TypeAlarm
	case "ACK":
		return TypeAck
	case "NAK":
		return TypeNak
	case "ERR":
		return TypeErr
	case "SET":
		return TypeSet
	case "OUT":
		return TypeOut
	case "FS":
		return TypeFailsafe
	}
	return TypeInvalid
}

// Frame is one decoded frame. Args is the comma-separated field list after the type word, without the
// leading comma; a parsed frame's Args aliases the input bytes (copy it to keep it).
type Frame struct {
	Seq  uint16
	Type Type
	Args []byte
}

// CRC16 is CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF, no reflection, no final XOR), the
// CRC the protocol puts on every frame. Its check value over "123456789" is 0x29B1.
func CRC16(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, c := range b {
		crc ^= uint16(c) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

const hexDigits = "0123456789ABCDEF"

// AppendFrame appends the encoded frame, CRC and CR LF included, to dst. Args must hold only printable
// ASCII other than '$' and '*' (fields are separated by ','); AppendFrame does not check, so a caller that
// builds Args from outside text must (ValidArgs).
func AppendFrame(dst []byte, f Frame) []byte {
	dst = append(dst, startByte)
	body := len(dst)
	dst = strconv.AppendUint(dst, uint64(f.Seq), 10)
	dst = append(dst, ',')
	dst = append(dst, f.Type.String()...)
	if len(f.Args) > 0 {
		dst = append(dst, ',')
		dst = append(dst, f.Args...)
	}
	crc := CRC16(dst[body:])
	return append(dst, crcByte, hexDigits[crc>>12], hexDigits[crc>>8&0xF], hexDigits[crc>>4&0xF], hexDigits[crc&0xF], '\r', '\n')
}

// ValidArgs reports whether b may be used as a frame's Args.
func ValidArgs(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7E || c == startByte || c == crcByte {
			return false
		}
	}
	return true
}

// ParseFrame decodes the frame at the start of b. It returns the frame, the number of bytes it consumed
// and an error. On ErrShortFrame n is 0: read more bytes and call again. On any other error n bytes must be
// skipped before trying again, which is how a stream resynchronises: garbage is skipped up to the next '$',
// a frame cut short by a new '$' is dropped up to that '$', and a bad frame up to its end. On
// ErrUnknownType the frame's Seq is still set, so a reply can name it.
func ParseFrame(b []byte) (Frame, int, error) {
	if len(b) == 0 {
		return Frame{}, 0, ErrShortFrame
	}
	if b[0] != startByte {
		if i := bytes.IndexByte(b, startByte); i >= 0 {
			return Frame{}, i, ErrGarbage
		}
		return Frame{}, len(b), ErrGarbage
	}
	limit := min(len(b), MaxFrame)
	end := -1
	for j := 1; j < limit; j++ {
		if b[j] == endByte {
			end = j
			break
		}
		if b[j] == startByte {
			return Frame{}, j, ErrTruncated
		}
	}
	if end < 0 {
		if len(b) < MaxFrame {
			return Frame{}, 0, ErrShortFrame
		}
		return Frame{}, MaxFrame, ErrTooLong
	}
	n := end + 1
	body := b[1:end]
	if len(body) > 0 && body[len(body)-1] == '\r' {
		body = body[:len(body)-1]
	}
	if len(body) < 5 || body[len(body)-5] != crcByte {
		return Frame{}, n, ErrSyntax
	}
	want, ok := parseHex16(body[len(body)-4:])
	if !ok {
		return Frame{}, n, ErrSyntax
	}
	body = body[:len(body)-5]
	if CRC16(body) != want {
		return Frame{}, n, ErrBadCRC
	}
	if !ValidArgs(body) {
		return Frame{}, n, ErrSyntax
	}
	// seq
	i := 0
	var seq uint32
	for i < len(body) && body[i] >= '0' && body[i] <= '9' {
		seq = seq*10 + uint32(body[i]-'0')
		i++
		if i > 5 || seq > 0xFFFF {
			return Frame{}, n, ErrSyntax
		}
	}
	if i == 0 || i >= len(body) || body[i] != ',' {
		return Frame{}, n, ErrSyntax
	}
	i++
	// type
	t0 := i
	for i < len(body) && body[i] >= 'A' && body[i] <= 'Z' {
		i++
	}
	if i == t0 || i-t0 > 8 || (i < len(body) && body[i] != ',') {
		return Frame{}, n, ErrSyntax
	}
	f := Frame{Seq: uint16(seq), Type: lookupType(body[t0:i])}
	if i < len(body) {
		f.Args = body[i+1:]
	}
	if f.Type == TypeInvalid {
		return Frame{Seq: f.Seq}, n, ErrUnknownType
	}
	return f, n, nil
}

func parseHex16(b []byte) (uint16, bool) {
	var v uint16
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint16(c)
	}
	return v, true
}

// NextField splits the first comma-separated field off args. ok is false when args is exhausted.
func NextField(args []byte) (field, rest []byte, ok bool) {
	if args == nil {
		return nil, nil, false
	}
	if i := bytes.IndexByte(args, ','); i >= 0 {
		return args[:i], args[i+1:], true
	}
	return args, nil, true
}
