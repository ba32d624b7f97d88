package modbus

import (
	"fmt"
	"math"
	"math/bits"
)

// Table is one of the four Modbus data tables. Coils and discrete inputs are single bits; holding and
// input registers are 16-bit words.
type Table uint8

// The four tables, each read with its own function code.
const (
	Coil     Table = iota + 1 // FC 01
	Discrete                  // FC 02
	Holding                   // FC 03
	Input                     // FC 04
)

var tableNames = []string{Coil: "coil", Discrete: "discrete", Holding: "holding", Input: "input"}

func (t Table) String() string {
	if int(t) < len(tableNames) && t != 0 {
		return tableNames[t]
	}
	return fmt.Sprintf("table(%d)", t)
}

// IsBits reports whether the table holds single bits (coils, discrete inputs) rather than registers.
func (t Table) IsBits() bool { return t == Coil || t == Discrete }

// ParseTable parses coil, discrete, holding or input.
func ParseTable(s string) (Table, error) {
	for i, n := range tableNames {
		if n != "" && n == s {
			return Table(i), nil
		}
	}
	return 0, fmt.Errorf("unknown table %q (use coil, discrete, holding or input)", s)
}

// Type is how the registers of one value are interpreted.
type Type uint8

// Register value types. Multi-register types are assembled according to a WordOrder.
const (
	Uint16 Type = iota + 1
	Int16
	Uint32
	Int32
	Float32
	Uint64
	Int64
)

var typeNames = []string{Uint16: "uint16", Int16: "int16", Uint32: "uint32", Int32: "int32", Float32: "float32", Uint64: "uint64", Int64: "int64"}

func (t Type) String() string {
	if int(t) < len(typeNames) && t != 0 {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", t)
}

// Words is the number of 16-bit registers a value of this type occupies.
func (t Type) Words() int {
	switch t {
	case Uint32, Int32, Float32:
		return 2
	case Uint64, Int64:
		return 4
	}
	return 1
}

// IsFloat reports whether the type is a floating-point type (which has no bits to pick).
func (t Type) IsFloat() bool { return t == Float32 }

// ParseType parses uint16, int16, uint32, int32, float32, uint64 or int64.
func ParseType(s string) (Type, error) {
	for i, n := range typeNames {
		if n != "" && n == s {
			return Type(i), nil
		}
	}
	return 0, fmt.Errorf("unknown type %q (use uint16, int16, uint32, int32, float32, uint64 or int64)", s)
}

// WordOrder says how the bytes of a multi-byte value are laid out over its registers, named after the
// big-endian bytes A B C D of a 32-bit value: abcd is the Modbus default (big-endian, high word first),
// cdab swaps the words, badc swaps the bytes inside each word, dcba is fully little-endian. For 64-bit
// values the same two swaps apply to all four words; for 16-bit values only the byte swap matters.
type WordOrder uint8

// The four word orders.
const (
	ABCD WordOrder = iota
	CDAB
	BADC
	DCBA
)

var orderNames = []string{ABCD: "abcd", CDAB: "cdab", BADC: "badc", DCBA: "dcba"}

func (o WordOrder) String() string {
	if int(o) < len(orderNames) {
		return orderNames[o]
	}
	return fmt.Sprintf("order(%d)", o)
}

func (o WordOrder) swapWords() bool { return o == CDAB || o == DCBA }
func (o WordOrder) swapBytes() bool { return o == BADC || o == DCBA }

// ParseWordOrder parses abcd, cdab, badc or dcba (upper case accepted, as vendors write it).
func ParseWordOrder(s string) (WordOrder, error) {
	for i, n := range orderNames {
		if n == s || (len(s) == 4 && n == lower(s)) {
			return WordOrder(i), nil
		}
	}
	return 0, fmt.Errorf("unknown word_order %q (use abcd, cdab, badc or dcba)", s)
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// Raw assembles the registers of one value into its bits, most significant first, undoing the word
// order. regs must hold at least t.Words() registers.
func Raw(regs []uint16, t Type, o WordOrder) (uint64, error) {
	n := t.Words()
	if len(regs) < n {
		return 0, fmt.Errorf("modbus: %s needs %d registers, got %d", t, n, len(regs))
	}
	var v uint64
	for i := 0; i < n; i++ {
		w := regs[i]
		if o.swapBytes() {
			w = bits.ReverseBytes16(w)
		}
		pos := i // position from the most significant word
		if o.swapWords() {
			pos = n - 1 - i
		}
		v |= uint64(w) << (16 * (n - 1 - pos))
	}
	return v, nil
}

// Value converts raw bits (as from Raw) of type t to a number, with sign extension for signed types.
// Large 64-bit integers lose precision beyond 2^53, as any float64 does.
func Value(raw uint64, t Type) float64 {
	switch t {
	case Int16:
		return float64(int16(raw))
	case Int32:
		return float64(int32(raw))
	case Int64:
		return float64(int64(raw))
	case Float32:
		return float64(math.Float32frombits(uint32(raw)))
	}
	return float64(raw)
}

// Decode is Raw followed by Value.
func Decode(regs []uint16, t Type, o WordOrder) (float64, error) {
	raw, err := Raw(regs, t, o)
	if err != nil {
		return 0, err
	}
	return Value(raw, t), nil
}

// Encode is the inverse of Decode for simulated devices: it writes v as type t in word order o into
// dst, which must hold t.Words() registers. Integers are rounded and clamped to the type's range.
func Encode(dst []uint16, v float64, t Type, o WordOrder) {
	var raw uint64
	switch t {
	case Float32:
		raw = uint64(math.Float32bits(float32(v)))
	case Int16:
		raw = uint64(uint16(int16(clamp(v, math.MinInt16, math.MaxInt16))))
	case Int32:
		raw = uint64(uint32(int32(clamp(v, math.MinInt32, math.MaxInt32))))
	case Int64:
		switch f := clamp(v, math.MinInt64, math.MaxInt64); {
		case f >= math.MaxInt64: // float64(MaxInt64) is 2^63, one past the range
			raw = math.MaxInt64
		default:
			raw = uint64(int64(f))
		}
	case Uint16:
		raw = uint64(clamp(v, 0, math.MaxUint16))
	case Uint32:
		raw = uint64(clamp(v, 0, math.MaxUint32))
	default:
		if f := clamp(v, 0, math.MaxUint64); f >= math.MaxUint64 {
			raw = math.MaxUint64
		} else {
			raw = uint64(f)
		}
	}
	PutRaw(dst, raw, t, o)
}

// PutRaw writes raw bits (most significant first, as Raw returns them) of type t into dst in word
// order o; dst must hold t.Words() registers.
func PutRaw(dst []uint16, raw uint64, t Type, o WordOrder) {
	n := t.Words()
	for i := 0; i < n; i++ {
		pos := i
		if o.swapWords() {
			pos = n - 1 - i
		}
		w := uint16(raw >> (16 * (n - 1 - pos)))
		if o.swapBytes() {
			w = bits.ReverseBytes16(w)
		}
		dst[i] = w
	}
}

func clamp(v, lo, hi float64) float64 {
	if math.IsNaN(v) {
		return 0
	}
	return max(lo, min(hi, math.Round(v)))
}
