package modbus

import "github.com/rackwatch/rackwatch/agent/reading"

// Point is one checked entry of a register map, as a simulated device (drivers/modbus/modbussim)
// needs it: where the entry lives, and how a channel's value is written into its registers, the inverse
// of what the driver decodes. The driver itself reads through Device.
type Point struct{ p point }

// CompilePoint checks one RegSpec exactly as the driver does. errf is called for each problem, with
// the spec's line; ok is false if there was any.
func CompilePoint(s *RegSpec, errf func(line int, format string, args ...any)) (pt Point, ok bool) {
	p, ok := compile(s, errf)
	return Point{p}, ok
}

// Channel is the channel the entry reads.
func (pt *Point) Channel() reading.Channel { return pt.p.ch }

// Table is the table the entry lives in.
func (pt *Point) Table() Table { return pt.p.table }

// Address is the entry's first address.
func (pt *Point) Address() uint16 { return pt.p.addr }

// Span is how many registers (or bits, in the coil and discrete tables) the entry covers from Address.
func (pt *Point) Span() int { return pt.p.span }

// Boolean reports whether the entry is a 0/1 view: a coil or discrete input, one bit of a register, or an
// enumerated register read through equals. Such a view shares its register with others; put plain values
// first so that the views have the last word on what they name.
func (pt *Point) Boolean() bool { return pt.p.boolean() }

// Put writes v, the channel's value in its canonical unit, into regs, which holds the entry's Span
// registers from Address (register tables only). fresh tells that no other entry has written to them yet:
// an array reduced to one channel (count > 1) is then filled with v throughout; a later max or min view
// of the same array adjusts only one element, so that each view reads back its own value. A bit or an
// equals view changes only what it names.
func (pt *Point) Put(regs []uint16, v float64, fresh bool) {
	p := &pt.p
	w := p.typ.Words()
	switch {
	case p.bit >= 0:
		raw, _ := Raw(regs, p.typ, p.order)
		if v >= 0.5 {
			raw |= 1 << uint(p.bit)
		} else {
			raw &^= 1 << uint(p.bit)
		}
		PutRaw(regs, raw, p.typ, p.order)
	case len(p.equals) > 0:
		code := p.equals[0]
		if v < 0.5 {
			code = 0
			for k := range p.states {
				if !contains64(p.equals, k) && (code == 0 || k < code) {
					code = k
				}
			}
		}
		Encode(regs, float64(code), p.typ, p.order)
	case p.count > 1:
		raw := (v - p.offset) / p.scale
		switch {
		case fresh:
			for i := 0; i < p.count; i++ {
				Encode(regs[i*w:], raw, p.typ, p.order)
			}
		case p.reduce == reduceMax:
			Encode(regs, raw, p.typ, p.order)
		case p.reduce == reduceMin:
			Encode(regs[(p.count-1)*w:], raw, p.typ, p.order)
		}
	default:
		Encode(regs, (v-p.offset)/p.scale, p.typ, p.order)
	}
}

func contains64(list []int64, v int64) bool {
	for _, e := range list {
		if e == v {
			return true
		}
	}
	return false
}
