package modbus

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
)

// RegSpec is one entry of a register map, as written under `registers:` in a sensor or a profile.
type RegSpec struct {
	Channel   string `yaml:"channel"`
	Table     string `yaml:"table"`
	Address   *int   `yaml:"address"`
	Type      string `yaml:"type"`
	WordOrder string `yaml:"word_order"`
	// Count > 1 reads an array of values (e.g. 16 cell voltages) that Reduce folds into one channel.
	Count  int      `yaml:"count"`
	Reduce string   `yaml:"reduce"`
	Scale  *float64 `yaml:"scale"`
	Offset float64  `yaml:"offset"`
	// Bit picks one bit of an integer register (0 = least significant) as a 0/1 channel.
	Bit *int `yaml:"bit"`
	// States names the values of an enumerated register; a value not listed is a bad reading.
	States map[string]string `yaml:"states"`
	// Equals turns an enumerated register into a 0/1 channel: 1 when the value is one of these.
	Equals []int64 `yaml:"equals"`
	// Invalid lists raw values the device uses for "no value" (often 0x7FFF or 0xFFFF): a bad reading.
	Invalid []int64 `yaml:"invalid"`
	Unit    string  `yaml:"unit"`
	Line    int     `yaml:"-"`
}

type reduceOp uint8

const (
	reduceNone reduceOp = iota
	reduceMax
	reduceMin
	reduceAvg
	reduceSum
	reduceSpread
)

var reduceNames = map[string]reduceOp{"max": reduceMax, "min": reduceMin, "avg": reduceAvg, "sum": reduceSum, "spread": reduceSpread}

// point is a checked RegSpec: everything needed to turn a block of registers into one channel's value.
type point struct {
	ch      reading.Channel
	unit    string
	table   Table
	addr    uint16
	typ     Type
	order   WordOrder
	count   int
	reduce  reduceOp
	scale   float64
	offset  float64
	bit     int // -1: none
	states  map[int64]string
	equals  []int64
	invalid []uint64
	// span is the number of registers (or bits) the point covers.
	span int
	line int
}

func (p *point) boolean() bool { return p.table.IsBits() || p.bit >= 0 || len(p.equals) > 0 }

// compile checks one RegSpec; errf reports a problem at the spec's line.
func compile(s *RegSpec, errf func(line int, format string, args ...any)) (point, bool) {
	ok := true
	bad := func(format string, args ...any) {
		errf(s.Line, "register %q: "+format, append([]any{s.Channel}, args...)...)
		ok = false
	}
	p := point{ch: reading.Channel(s.Channel), bit: -1, scale: 1, offset: s.Offset, count: 1, line: s.Line}
	switch {
	case s.Channel == "":
		errf(s.Line, "register: channel is required (the name readings are published under)")
		ok = false
	case !reading.ValidID(s.Channel):
		bad("use only a-z, 0-9, '.', '_' and '-' in a channel name")
	}
	var err error
	if s.Table == "" {
		bad("table is required: coil, discrete, holding or input")
	} else if p.table, err = ParseTable(s.Table); err != nil {
		bad("%v", err)
	}
	if s.Address == nil {
		bad("address is required (0-based, as sent on the wire: register 40001 in a vendor table is usually address 0)")
	} else if *s.Address < 0 || *s.Address > math.MaxUint16 {
		bad("address %d is outside 0..65535", *s.Address)
	} else {
		p.addr = uint16(*s.Address)
	}
	if s.Count < 0 || s.Count > 125 {
		bad("count %d is outside 1..125", s.Count)
	} else if s.Count > 0 {
		p.count = s.Count
	}
	if s.Reduce != "" {
		if p.reduce = reduceNames[s.Reduce]; p.reduce == reduceNone {
			bad("unknown reduce %q (use max, min, avg, sum or spread)", s.Reduce)
		}
	}
	if p.count > 1 && s.Reduce == "" {
		bad("count %d needs reduce: max, min, avg, sum or spread", p.count)
	}
	if p.count == 1 && s.Reduce != "" {
		bad("reduce needs count > 1")
	}
	if s.Scale != nil {
		if *s.Scale == 0 || math.IsNaN(*s.Scale) || math.IsInf(*s.Scale, 0) {
			bad("scale must be a non-zero number")
		} else {
			p.scale = *s.Scale
		}
	}
	if len(s.States) > 0 {
		p.states = make(map[int64]string, len(s.States))
		for k, v := range s.States {
			n, err := strconv.ParseInt(k, 0, 64)
			if err != nil {
				bad("states key %q is not a whole number", k)
				continue
			}
			p.states[n] = v
		}
	}
	p.equals = s.Equals
	for _, v := range s.Invalid {
		p.invalid = append(p.invalid, uint64(v)) // compared with the raw bits, so -1 for int16 is 0xFFFF too
	}
	if p.table.IsBits() {
		for _, k := range []struct {
			set  bool
			name string
		}{{s.Type != "", "type"}, {s.WordOrder != "", "word_order"}, {s.Scale != nil, "scale"}, {s.Offset != 0, "offset"},
			{s.Bit != nil, "bit"}, {len(s.States) > 0, "states"}, {len(s.Equals) > 0, "equals"}, {len(s.Invalid) > 0, "invalid"}} {
			if k.set {
				bad("%s does not apply to the %s table, whose values are single bits (0/1)", k.name, p.table)
			}
		}
		p.span = p.count
	} else {
		p.typ, p.order = Uint16, ABCD
		if s.Type != "" {
			if p.typ, err = ParseType(s.Type); err != nil {
				bad("%v", err)
			}
		}
		if s.WordOrder != "" {
			if p.order, err = ParseWordOrder(s.WordOrder); err != nil {
				bad("%v", err)
			}
		}
		if s.Bit != nil {
			switch {
			case p.typ.IsFloat():
				bad("bit does not apply to %s; use an integer type", p.typ)
			case *s.Bit < 0 || *s.Bit >= 16*p.typ.Words():
				bad("bit %d is outside 0..%d for %s", *s.Bit, 16*p.typ.Words()-1, p.typ)
			case s.Scale != nil || s.Offset != 0 || len(s.States) > 0 || len(s.Equals) > 0:
				bad("bit gives a 0/1 value: scale, offset, states and equals do not apply")
			default:
				p.bit = *s.Bit
			}
		}
		if (len(s.States) > 0 || len(s.Equals) > 0) && p.typ.IsFloat() {
			bad("states and equals need an integer type, not %s", p.typ)
		}
		if len(s.Equals) > 0 && (s.Scale != nil || s.Offset != 0) {
			bad("equals gives a 0/1 value: scale and offset do not apply")
		}
		p.span = p.count * p.typ.Words()
	}
	if p.boolean() && s.Unit != "" {
		bad("a 0/1 channel has no unit")
	}
	if int(p.addr)+p.span-1 > math.MaxUint16 {
		bad("address %d + %d registers runs past 65535", p.addr, p.span)
	}
	switch {
	case p.boolean():
		p.unit = ""
	case s.Unit != "":
		p.unit = s.Unit
	default:
		p.unit = reading.Unit(p.ch)
	}
	return p, ok
}

// block is one request: a run of addresses in one table covering one or more points.
type block struct {
	table  Table
	addr   uint16
	n      uint16
	points []int // indices into the device's points
}

// Request size limits from the Modbus application protocol (FC 01/02: 2000 bits, FC 03/04: 125 registers).
const (
	maxReadRegisters = 125
	maxReadBits      = 2000
)

// bitLimit is the largest bit read for a device whose register reads are limited to maxRegs: a device
// with a small register buffer is assumed to have a proportionally small bit buffer.
func bitLimit(maxRegs int) int { return min(maxReadBits, 16*maxRegs) }

// plan merges points into as few requests as the limits allow: points of one table whose addresses are
// at most gap apart are read together as long as the request stays within maxRegs registers (or
// bitLimit bits). Overlapping points (several bits of one status word) share a request. Blocks come out
// in table then address order, so the order of requests on the wire is stable.
func plan(points []point, maxRegs, gap int) ([]block, error) {
	idx := make([]int, len(points))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		pa, pb := &points[idx[a]], &points[idx[b]]
		if pa.table != pb.table {
			return pa.table < pb.table
		}
		return pa.addr < pb.addr
	})
	var blocks []block
	var end int // one past the current block's last address
	for _, i := range idx {
		p := &points[i]
		limit := maxRegs
		if p.table.IsBits() {
			limit = bitLimit(maxRegs)
		}
		if p.span > limit {
			return nil, fmt.Errorf("register %q at line %d spans %d, more than the %d a request may read (max_registers)", p.ch, p.line, p.span, limit)
		}
		pEnd := int(p.addr) + p.span
		if n := len(blocks); n > 0 {
			b := &blocks[n-1]
			if b.table == p.table && int(p.addr) <= end+gap && max(end, pEnd)-int(b.addr) <= limit {
				end = max(end, pEnd)
				b.n = uint16(end - int(b.addr))
				b.points = append(b.points, i)
				continue
			}
		}
		blocks = append(blocks, block{table: p.table, addr: p.addr, n: uint16(p.span), points: []int{i}})
		end = pEnd
	}
	return blocks, nil
}

// regValue computes a register point's value from its registers (regs starts at the point's address).
func (p *point) regValue(regs []uint16) (float64, error) {
	w := p.typ.Words()
	var acc float64
	var lo, hi float64 = math.Inf(1), math.Inf(-1)
	for i := 0; i < p.count; i++ {
		raw, err := Raw(regs[i*w:], p.typ, p.order)
		if err != nil {
			return 0, err
		}
		v, err := p.one(raw)
		if err != nil {
			return 0, err
		}
		acc += v
		lo, hi = min(lo, v), max(hi, v)
	}
	return fold(p.reduce, acc, lo, hi, p.count), nil
}

func (p *point) one(raw uint64) (float64, error) {
	for _, inv := range p.invalid {
		if raw == inv&(1<<(16*p.typ.Words())-1) {
			return 0, fmt.Errorf("modbus: %s: the device reports no value (raw 0x%x)", p.ch, raw)
		}
	}
	if p.bit >= 0 {
		return float64(raw >> uint(p.bit) & 1), nil
	}
	if p.states != nil || p.equals != nil {
		n := int64(Value(raw, p.typ))
		if p.states != nil {
			if _, known := p.states[n]; !known {
				return 0, fmt.Errorf("modbus: %s: unknown state %d (known: %s)", p.ch, n, p.stateList())
			}
		}
		if p.equals != nil {
			for _, e := range p.equals {
				if e == n {
					return 1, nil
				}
			}
			return 0, nil
		}
		return float64(n), nil
	}
	return Value(raw, p.typ)*p.scale + p.offset, nil
}

func (p *point) stateList() string {
	keys := make([]int64, 0, len(p.states))
	for k := range p.states {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d %s", k, p.states[k])
	}
	return b.String()
}

// bitValue computes a coil or discrete-input point's value from its bits.
func (p *point) bitValue(bits []bool) float64 {
	var acc float64
	var lo, hi float64 = 1, 0
	for i := 0; i < p.count; i++ {
		v := 0.0
		if bits[i] {
			v = 1
		}
		acc += v
		lo, hi = min(lo, v), max(hi, v)
	}
	return fold(p.reduce, acc, lo, hi, p.count)
}

func fold(op reduceOp, sum, lo, hi float64, n int) float64 {
	switch op {
	case reduceMin:
		return lo
	case reduceAvg:
		return sum / float64(n)
	case reduceSum:
		return sum
	case reduceSpread:
		return hi - lo
	case reduceMax:
		return hi
	}
	return sum // count 1: the value itself
}

// channelInfos lists the points' channels for driver.Check.
func channelInfos(points []point) []driver.ChannelInfo {
	out := make([]driver.ChannelInfo, len(points))
	for i := range points {
		out[i] = points[i].info()
	}
	return out
}

// info is the point's channel: its resolution is the register's scale (scale 0.1 reads in tenths), its
// states the names its `states` gives, or on/off names for a bit, a coil or an equals view.
func (p *point) info() driver.ChannelInfo {
	ci := driver.ChannelInfo{Channel: p.ch, Unit: p.unit}
	switch {
	case p.bit >= 0 || len(p.equals) > 0 || p.table.IsBits() && (p.count <= 1 || p.reduce == reduceMax || p.reduce == reduceMin):
		ci.Resolution, ci.States = 1, reading.BooleanStates(p.ch)
	case p.states != nil:
		names := make(map[int64]string, len(p.states))
		for k, v := range p.states {
			names[k] = v
		}
		ci.Resolution, ci.States = 1, names
	case p.table.IsBits():
		// A count of coils (reduce: sum) or a share of them (avg): the unit's default.
	case !p.typ.IsFloat():
		ci.Resolution = reading.ResolutionOf(p.scale)
	}
	return ci
}
