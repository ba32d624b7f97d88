package modbus

import (
	"context"
	"fmt"
	"math"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// OutputName is the output type in the config.
const OutputName = "modbus"

// OutputOptions are the keys of a `modbus` output: a coil or a holding register written with the value
// for "on" or for "off" (a BMS's charge enable, a fan contactor, a breaker's shunt trip), then read back.
type OutputOptions struct {
	UnitID *int `yaml:"unit_id"`
	// Table is coil (FC 05) or holding (FC 06).
	Table   string `yaml:"table"`
	Address *int   `yaml:"address"`
	// On and Off are the values written: 0 or 1 for a coil; -32768..65535 for a register (negative values
	// are written as int16). Defaults: on 1, off 0.
	On  *float64 `yaml:"on"`
	Off *float64 `yaml:"off"`
	// Verify reads the address back after writing and fails when it differs (default true). Turn it off
	// only for a device that does not let the address be read.
	Verify *bool `yaml:"verify"`
}

type outSpec struct {
	unit    uint8
	table   Table
	addr    uint16
	on, off uint16
	verify  bool
}

func parseOutput(o *driver.Output, bus *driver.Bus) (outSpec, error) {
	var opt OutputOptions
	if err := o.Options.Decode(&opt); err != nil {
		return outSpec{}, err
	}
	p := settings.NewProblems(o.Options)
	s := outSpec{unit: 1, verify: opt.Verify == nil || *opt.Verify}
	if opt.UnitID != nil {
		if *opt.UnitID < 0 || *opt.UnitID > 255 {
			p.Add("unit_id", "output %q: unit_id %d is outside 0..255 (RS-485 devices use 1..247)", o.ID, *opt.UnitID)
		}
		s.unit = uint8(*opt.UnitID)
	}
	switch opt.Table {
	case "coil":
		s.table = Coil
	case "holding":
		s.table = Holding
	case "":
		p.Add("table", "output %q: table is required: coil or holding", o.ID)
	default:
		p.Add("table", "output %q: table %q cannot be written: use coil or holding", o.ID, opt.Table)
	}
	switch {
	case opt.Address == nil:
		p.Add("address", "output %q: address is required (the register or coil number, 0-based as on the wire)", o.ID)
	case *opt.Address < 0 || *opt.Address > 65535:
		p.Add("address", "output %q: address %d is outside 0..65535", o.ID, *opt.Address)
	default:
		s.addr = uint16(*opt.Address)
	}
	value := func(key string, v *float64, def uint16) uint16 {
		if v == nil {
			return def
		}
		switch {
		case *v != math.Trunc(*v):
			p.Add(key, "output %q: %s %v: a whole number is written", o.ID, key, *v)
		case s.table == Coil && *v != 0 && *v != 1:
			p.Add(key, "output %q: %s %v: a coil is written 0 or 1", o.ID, key, *v)
		case *v < -32768 || *v > 65535:
			p.Add(key, "output %q: %s %v: a register holds -32768..65535", o.ID, key, *v)
		case *v < 0:
			return uint16(int16(*v))
		}
		return uint16(*v)
	}
	s.on, s.off = value("on", opt.On, 1), value("off", opt.Off, 0)
	if opt.On != nil && opt.Off != nil && s.on == s.off {
		p.Add("on", "output %q: on and off write the same value", o.ID)
	}
	if bus != nil && bus.Type == BusRTU && (s.unit == 0 || s.unit > 247) && opt.UnitID != nil {
		p.Add("unit_id", "output %q: unit_id %d on an RS-485 line must be 1..247 (0 is broadcast, which nobody answers)", o.ID, s.unit)
	}
	return s, p.Err()
}

func (s outSpec) where(busID string) string {
	return fmt.Sprintf("%s %d (0x%04X) on unit %d of bus %s", s.table, s.addr, s.addr, s.unit, busID)
}

func outputType(hub *busHub) driver.OutputType {
	return driver.OutputType{
		Name:  OutputName,
		Buses: []string{BusRTU, BusTCP},
		Check: func(o *driver.Output) (driver.OutputInfo, error) {
			s, err := parseOutput(o, nil)
			if err != nil {
				return driver.OutputInfo{}, err
			}
			return driver.OutputInfo{Describe: fmt.Sprintf("%s: on writes %d, off writes %d", s.where(o.Bus), s.on, s.off)}, nil
		},
		Open: func(ctx context.Context, env driver.OutputEnv) (driver.Actuator, error) {
			if env.Bus == nil {
				return nil, fmt.Errorf("modbus: output %s: no bus", env.Output.ID)
			}
			s, err := parseOutput(env.Output, env.Bus)
			if err != nil {
				return nil, err
			}
			bc, err := BusConfigFromConfig(env.Bus)
			if err != nil {
				return nil, err
			}
			// Look the bus up at each write: a reloaded config may have replaced it.
			get := func() (*Bus, error) { return hub.get(env.Bus.ID, bc, env.Logger()) }
			if _, err := get(); err != nil {
				return nil, err
			}
			return &Output{s: s, bus: get, busID: env.Bus.ID}, nil
		},
	}
}

// Output is an opened modbus output. It does not write at open: the device's state is left as it is
// (a BMS that stopped its charge by itself must not be told to charge because the gateway restarted).
type Output struct {
	s     outSpec
	bus   func() (*Bus, error)
	busID string
}

// Set implements driver.Actuator: write, then read back.
func (o *Output) Set(ctx context.Context, on bool, _ driver.Cause) (string, error) {
	b, err := o.bus()
	if err != nil {
		return "", err
	}
	v := o.s.off
	if on {
		v = o.s.on
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	where := o.s.where(o.busID)
	if o.s.table == Coil {
		err = b.WriteCoil(o.s.unit, o.s.addr, v == 1)
	} else {
		err = b.WriteRegister(o.s.unit, o.s.addr, v)
	}
	if err != nil {
		return where, err
	}
	detail := fmt.Sprintf("%s = %d", where, v)
	if !o.s.verify {
		return detail + " (not read back: verify is off)", nil
	}
	if err := ctx.Err(); err != nil {
		return detail, err
	}
	var got uint16
	if o.s.table == Coil {
		bits, err := b.ReadBits(o.s.unit, Coil, o.s.addr, 1)
		if err != nil {
			return detail, fmt.Errorf("written, but reading it back failed: %w", err)
		}
		if bits[0] {
			got = 1
		}
	} else {
		regs, err := b.ReadRegisters(o.s.unit, Holding, o.s.addr, 1)
		if err != nil {
			return detail, fmt.Errorf("written, but reading it back failed: %w", err)
		}
		got = regs[0]
	}
	detail += fmt.Sprintf(", read back %d", got)
	if got != v {
		return detail, fmt.Errorf("modbus: wrote %d to %s but it reads %d: the device refused or overrode it", v, where, got)
	}
	return detail, nil
}

// Close implements driver.Actuator. The bus belongs to the hub (and its sensors); nothing to release.
func (o *Output) Close() error { return nil }
