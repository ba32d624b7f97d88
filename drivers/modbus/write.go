package modbus

import (
	"fmt"
	"log/slog"
	"sync"
)

// WriteCoil writes one coil of a unit (FC 05).
func (b *Bus) WriteCoil(unit uint8, addr uint16, v bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.connect()
	if err != nil {
		return err
	}
	_ = c.SetUnitId(unit)
	b.requests++
	return b.result(c.WriteCoil(addr, v), unit, Coil, addr, 1)
}

// WriteRegister writes one holding register of a unit (FC 06).
func (b *Bus) WriteRegister(unit uint8, addr, v uint16) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, err := b.connect()
	if err != nil {
		return err
	}
	_ = c.SetUnitId(unit)
	b.requests++
	return b.result(c.WriteRegister(addr, v), unit, Holding, addr, 1)
}

// busHub hands out one Bus per configured bus id, shared by the sensors that read it and the outputs
// that write on it: an RS-485 line must have one owner, and its mutex then serialises a write between
// two polls. A bus whose settings changed (a reloaded config) gets a new Bus.
type busHub struct {
	mu    sync.Mutex
	buses map[string]*Bus
}

func (h *busHub) get(id string, cfg BusConfig, log *slog.Logger) (*Bus, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if b := h.buses[id]; b != nil && b.cfg == cfg.WithDefaults() {
		return b, nil
	}
	b, err := NewBus(cfg, log)
	if err != nil {
		return nil, fmt.Errorf("modbus: bus %q: %w", id, err)
	}
	if h.buses == nil {
		h.buses = map[string]*Bus{}
	}
	h.buses[id] = b
	return b, nil
}
