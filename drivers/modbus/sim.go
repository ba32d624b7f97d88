package modbus

import (
	"fmt"
	"sort"
	"sync"

	mb "github.com/simonvetter/modbus"

	"github.com/rackwatch/rackwatch/agent/reading"
)

// Sim is a simulated Modbus device: it answers reads of a register map (a profile) with the current
// values of its channels, encoded exactly as the driver decodes them, so `rackwatch sim modbus` and the
// tests exercise the real decoding path. It implements the library's mb.RequestHandler, for the TCP
// server, and serves RTUServer too.
type Sim struct {
	points []point
	value  func(ch reading.Channel) (float64, bool)
	units  map[uint8]bool // nil: every unit answers

	mu       sync.Mutex
	requests map[uint8]int
}

// NewSim builds a simulated device from a register map. value returns a channel's current value in
// its canonical unit (false: leave the registers at zero). units lists the unit ids that answer; none
// means every unit answers.
func NewSim(specs []RegSpec, value func(reading.Channel) (float64, bool), units ...uint8) (*Sim, error) {
	s := &Sim{value: value, requests: map[uint8]int{}}
	for i := range specs {
		var msgs []string
		p, ok := compile(&specs[i], func(line int, format string, args ...any) {
			msgs = append(msgs, fmt.Sprintf(format, args...))
		})
		if !ok {
			return nil, fmt.Errorf("modbus sim: %v", msgs)
		}
		s.points = append(s.points, p)
	}
	// Plain values first, then the 0/1 views (bits, equals) so that they win on shared registers.
	sort.SliceStable(s.points, func(i, j int) bool { return !s.points[i].boolean() && s.points[j].boolean() })
	if len(units) > 0 {
		s.units = map[uint8]bool{}
		for _, u := range units {
			s.units[u] = true
		}
	}
	return s, nil
}

// Requests returns how many requests a unit was sent (answered or not).
func (s *Sim) Requests(unit uint8) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[unit]
}

func (s *Sim) count(unit uint8) error {
	s.mu.Lock()
	s.requests[unit]++
	s.mu.Unlock()
	if s.units != nil && !s.units[unit] {
		return ErrNoResponse
	}
	return nil
}

// HandleCoils implements mb.RequestHandler.
func (s *Sim) HandleCoils(req *mb.CoilsRequest) ([]bool, error) {
	if err := s.count(req.UnitId); err != nil {
		return nil, err
	}
	if req.IsWrite {
		return nil, mb.ErrIllegalFunction
	}
	return s.bits(Coil, req.Addr, req.Quantity)
}

// HandleDiscreteInputs implements mb.RequestHandler.
func (s *Sim) HandleDiscreteInputs(req *mb.DiscreteInputsRequest) ([]bool, error) {
	if err := s.count(req.UnitId); err != nil {
		return nil, err
	}
	return s.bits(Discrete, req.Addr, req.Quantity)
}

// HandleHoldingRegisters implements mb.RequestHandler.
func (s *Sim) HandleHoldingRegisters(req *mb.HoldingRegistersRequest) ([]uint16, error) {
	if err := s.count(req.UnitId); err != nil {
		return nil, err
	}
	if req.IsWrite {
		return nil, mb.ErrIllegalFunction
	}
	return s.registers(Holding, req.Addr, req.Quantity)
}

// HandleInputRegisters implements mb.RequestHandler.
func (s *Sim) HandleInputRegisters(req *mb.InputRegistersRequest) ([]uint16, error) {
	if err := s.count(req.UnitId); err != nil {
		return nil, err
	}
	return s.registers(Input, req.Addr, req.Quantity)
}

func overlaps(p *point, t Table, addr, qty uint16) bool {
	return p.table == t && int(p.addr) < int(addr)+int(qty) && int(p.addr)+p.span > int(addr)
}

// registers renders [addr, addr+qty) of a register table. Addresses inside the range that the map
// does not name read as zero; a range that names nothing is an illegal address, as on real devices.
func (s *Sim) registers(t Table, addr, qty uint16) ([]uint16, error) {
	// Render with room on both sides so that points straddling the edges encode whole.
	const pad = 4 * maxReadRegisters
	base := int(addr) - pad
	img := make([]uint16, int(qty)+2*pad)
	filled := make([]bool, len(img))
	named := false
	for i := range s.points {
		p := &s.points[i]
		if !overlaps(p, t, addr, qty) {
			continue
		}
		named = true
		v, ok := s.value(p.ch)
		if !ok {
			continue
		}
		off := int(p.addr) - base
		s.encode(p, v, img[off:off+p.span], filled[off:off+p.span])
	}
	if !named {
		return nil, mb.ErrIllegalDataAddress
	}
	return img[pad : pad+int(qty)], nil
}

// encode writes value v of p into its registers, the inverse of point.regValue.
func (s *Sim) encode(p *point, v float64, regs []uint16, filled []bool) {
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
		// An array reduced to one channel: fill it with v the first time; later reductions of the same
		// array (max then min) adjust one element each so that every view reads back its own value.
		raw := (v - p.offset) / p.scale
		switch {
		case !filled[0]:
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
	for i := range filled {
		filled[i] = true
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

func (s *Sim) bits(t Table, addr, qty uint16) ([]bool, error) {
	out := make([]bool, qty)
	named := false
	for i := range s.points {
		p := &s.points[i]
		if !overlaps(p, t, addr, qty) {
			continue
		}
		named = true
		v, ok := s.value(p.ch)
		if !ok {
			continue
		}
		for a := int(p.addr); a < int(p.addr)+p.count; a++ {
			if a >= int(addr) && a < int(addr)+int(qty) {
				out[a-int(addr)] = v >= 0.5
			}
		}
	}
	if !named {
		return nil, mb.ErrIllegalDataAddress
	}
	return out, nil
}
