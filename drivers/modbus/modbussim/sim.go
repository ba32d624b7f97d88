package modbussim

import (
	"fmt"
	"sort"
	"sync"
	"time"

	mb "github.com/simonvetter/modbus"

	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/drivers/modbus"
)

// Sim is a simulated Modbus device: it answers reads of a register map (a profile) with the current
// values of its channels, encoded exactly as the driver decodes them, so `rackwatch sim modbus` and the
// tests exercise the real decoding path. It implements the library's mb.RequestHandler, for the TCP
// server, and serves RTUServer too.
type Sim struct {
	points []modbus.Point
	pad    int // the largest span: room left around a rendered range
	value  func(ch reading.Channel) (float64, bool)
	units  map[uint8]bool // nil: every unit answers

	mu       sync.Mutex
	requests map[uint8]int
	// Writes (AcceptWrites): what was written, per unit and address; it reads back until overwritten.
	writable bool
	onWrite  func(Write)
	written  map[writeKey]uint16
}

type writeKey struct {
	unit  uint8
	table modbus.Table
	addr  uint16
}

// Write is one write a simulated device accepted.
type Write struct {
	Unit  uint8
	Table modbus.Table
	Addr  uint16
	Value uint16 // a coil: 1 or 0
	At    time.Time
}

// AcceptWrites makes the device accept writes of single coils and holding registers (a BMS's charge
// enable, a fan contactor): a written address then reads back what was written, whatever the map's
// channel says, until written again. onWrite, if set, sees each write as it arrives. Without it, writes
// are refused as an illegal function, as on a read-only device.
func (s *Sim) AcceptWrites(onWrite func(Write)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writable, s.onWrite, s.written = true, onWrite, map[writeKey]uint16{}
}

// Written returns the value last written to an address of a unit, and whether one was.
func (s *Sim) Written(unit uint8, t modbus.Table, addr uint16) (uint16, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.written[writeKey{unit, t, addr}]
	return v, ok
}

// write stores a write, or refuses it on a read-only device.
func (s *Sim) write(unit uint8, t modbus.Table, addr uint16, vals []uint16) error {
	s.mu.Lock()
	if !s.writable {
		s.mu.Unlock()
		return mb.ErrIllegalFunction
	}
	cb := s.onWrite
	now := time.Now()
	for i, v := range vals {
		s.written[writeKey{unit, t, addr + uint16(i)}] = v
	}
	s.mu.Unlock()
	if cb != nil {
		for i, v := range vals {
			cb(Write{Unit: unit, Table: t, Addr: addr + uint16(i), Value: v, At: now})
		}
	}
	return nil
}

// overlay puts what was written over a rendered range; named reports whether a write covers the range.
func (s *Sim) overlay(unit uint8, t modbus.Table, addr, qty uint16, set func(i int, v uint16)) (named bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.written {
		if k.unit == unit && k.table == t && k.addr >= addr && int(k.addr) < int(addr)+int(qty) {
			set(int(k.addr-addr), v)
			named = true
		}
	}
	return named
}

// NewSim builds a simulated device from a register map. value returns a channel's current value in
// its canonical unit (false: leave the registers at zero). units lists the unit ids that answer; none
// means every unit answers.
func NewSim(specs []modbus.RegSpec, value func(reading.Channel) (float64, bool), units ...uint8) (*Sim, error) {
	s := &Sim{value: value, requests: map[uint8]int{}}
	for i := range specs {
		var msgs []string
		r, ok := modbus.CompilePoint(&specs[i], func(line int, format string, args ...any) {
			msgs = append(msgs, fmt.Sprintf(format, args...))
		})
		if !ok {
			return nil, fmt.Errorf("modbus sim: %v", msgs)
		}
		s.points = append(s.points, r)
		s.pad = max(s.pad, r.Span())
	}
	// Plain values first, then the 0/1 views (bits, equals) so that they win on shared registers.
	sort.SliceStable(s.points, func(i, j int) bool { return !s.points[i].Boolean() && s.points[j].Boolean() })
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
		vals := make([]uint16, len(req.Args))
		for i, b := range req.Args {
			if b {
				vals[i] = 1
			}
		}
		return nil, s.write(req.UnitId, modbus.Coil, req.Addr, vals)
	}
	bits, err := s.bits(modbus.Coil, req.Addr, req.Quantity)
	if s.overlay(req.UnitId, modbus.Coil, req.Addr, req.Quantity, func(i int, v uint16) {
		if bits == nil {
			bits = make([]bool, req.Quantity)
		}
		bits[i] = v != 0
	}) {
		err = nil
	}
	return bits, err
}

// HandleDiscreteInputs implements mb.RequestHandler.
func (s *Sim) HandleDiscreteInputs(req *mb.DiscreteInputsRequest) ([]bool, error) {
	if err := s.count(req.UnitId); err != nil {
		return nil, err
	}
	return s.bits(modbus.Discrete, req.Addr, req.Quantity)
}

// HandleHoldingRegisters implements mb.RequestHandler.
func (s *Sim) HandleHoldingRegisters(req *mb.HoldingRegistersRequest) ([]uint16, error) {
	if err := s.count(req.UnitId); err != nil {
		return nil, err
	}
	if req.IsWrite {
		return nil, s.write(req.UnitId, modbus.Holding, req.Addr, req.Args)
	}
	regs, err := s.registers(modbus.Holding, req.Addr, req.Quantity)
	if s.overlay(req.UnitId, modbus.Holding, req.Addr, req.Quantity, func(i int, v uint16) {
		if regs == nil {
			regs = make([]uint16, req.Quantity)
		}
		regs[i] = v
	}) {
		err = nil
	}
	return regs, err
}

// HandleInputRegisters implements mb.RequestHandler.
func (s *Sim) HandleInputRegisters(req *mb.InputRegistersRequest) ([]uint16, error) {
	if err := s.count(req.UnitId); err != nil {
		return nil, err
	}
	return s.registers(modbus.Input, req.Addr, req.Quantity)
}

func overlaps(r *modbus.Point, t modbus.Table, addr, qty uint16) bool {
	return r.Table() == t && int(r.Address()) < int(addr)+int(qty) && int(r.Address())+r.Span() > int(addr)
}

// registers renders [addr, addr+qty) of a register table. Addresses inside the range that the map
// does not name read as zero; a range that names nothing is an illegal address, as on real devices.
func (s *Sim) registers(t modbus.Table, addr, qty uint16) ([]uint16, error) {
	// Render with room on both sides so that entries straddling the edges encode whole.
	base := int(addr) - s.pad
	img := make([]uint16, int(qty)+2*s.pad)
	filled := make([]bool, len(img))
	named := false
	for i := range s.points {
		r := &s.points[i]
		if !overlaps(r, t, addr, qty) {
			continue
		}
		named = true
		v, ok := s.value(r.Channel())
		if !ok {
			continue
		}
		off := int(r.Address()) - base
		r.Put(img[off:off+r.Span()], v, !filled[off])
		for j := off; j < off+r.Span(); j++ {
			filled[j] = true
		}
	}
	if !named {
		return nil, mb.ErrIllegalDataAddress
	}
	return img[s.pad : s.pad+int(qty)], nil
}

func (s *Sim) bits(t modbus.Table, addr, qty uint16) ([]bool, error) {
	out := make([]bool, qty)
	named := false
	for i := range s.points {
		r := &s.points[i]
		if !overlaps(r, t, addr, qty) {
			continue
		}
		named = true
		v, ok := s.value(r.Channel())
		if !ok {
			continue
		}
		for a := int(r.Address()); a < int(r.Address())+r.Span(); a++ {
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
