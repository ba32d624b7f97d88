package modbus

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// Register adds the modbus driver, the modbus-rtu and modbus-tcp bus types and the modbus output type.
// The sensors and the outputs of one bus share one Bus.
func Register(r *driver.Registry) {
	hub := &busHub{}
	r.AddOutput(outputType(hub))
	for _, name := range []string{BusRTU, BusTCP} {
		r.AddBus(driver.BusType{
			Name: name,
			Check: func(b *driver.Bus) error {
				_, err := BusConfigFromConfig(b)
				return err
			},
			Open: func(_ context.Context, b *driver.Bus, log *slog.Logger) (any, error) {
				bc, err := BusConfigFromConfig(b)
				if err != nil {
					return nil, err
				}
				return hub.get(b.ID, bc, log)
			},
		})
	}
	r.Add(driver.Driver{
		Name:  "modbus",
		Buses: []string{BusRTU, BusTCP},
		Check: func(s *driver.Sensor) ([]driver.ChannelInfo, error) {
			_, points, err := decodeSensor(s)
			if err != nil {
				return nil, err
			}
			return channelInfos(points), nil
		},
		Open: openSensor,
	})
}

// sensorOptions are the modbus driver's keys on a sensor.
type sensorOptions struct {
	UnitID       *int      `yaml:"unit_id"`
	Registers    []RegSpec `yaml:"registers"`
	Profile      string    `yaml:"profile"`
	ProfileDir   string    `yaml:"profile_dir"`
	MaxRegisters int       `yaml:"max_registers"`
	Gap          *int      `yaml:"gap"`
}

// decodeSensor decodes and checks a sensor's options (and its profile) into a device config and points.
func decodeSensor(s *driver.Sensor) (DeviceConfig, []point, error) {
	var o sensorOptions
	var dc DeviceConfig
	if err := s.Options.Decode(&o); err != nil {
		return dc, nil, err
	}
	file := s.Options.File()
	var errs settings.Errors
	at := func(key, format string, args ...any) {
		errs = append(errs, settings.AsErrors(settings.Errorf(s.Options, key, format, args...), file, s.Options.Line())...)
	}
	unit := 1
	if o.UnitID != nil {
		unit = *o.UnitID
	}
	if unit < 0 || unit > 255 {
		at("unit_id", "sensor %q: unit_id %d is outside 0..255 (RS-485 devices use 1..247)", s.ID, unit)
	}
	dc.Unit = uint8(unit)
	dc.Every = s.Every

	var specs []RegSpec
	var specFile []string // the file each spec's line refers to
	maxRegs, gap := 0, 0
	if o.Profile != "" {
		prof, err := LoadProfile(o.Profile, ProfileDir(file, o.ProfileDir), s.Options.Parse)
		if err != nil {
			if es, ok := err.(settings.Errors); ok {
				errs = append(errs, es...)
			} else {
				at("profile", "sensor %q: %v", s.ID, err)
			}
		} else {
			maxRegs, gap = prof.MaxRegisters, prof.Gap
			for _, r := range prof.Registers {
				specs = append(specs, r)
				specFile = append(specFile, prof.File)
			}
		}
	} else if o.ProfileDir != "" {
		at("profile_dir", "sensor %q: profile_dir is set but profile is not", s.ID)
	}
	for _, r := range o.Registers {
		specs = append(specs, r)
		specFile = append(specFile, file)
	}
	if len(specs) == 0 && len(errs) == 0 {
		at("registers", "sensor %q: list registers or name a profile (e.g. profile: ups)", s.ID)
	}
	if o.MaxRegisters != 0 {
		if o.MaxRegisters < 1 || o.MaxRegisters > maxReadRegisters {
			at("max_registers", "sensor %q: max_registers %d is outside 1..%d", s.ID, o.MaxRegisters, maxReadRegisters)
		}
		maxRegs = o.MaxRegisters
	}
	if o.Gap != nil {
		if *o.Gap < 0 || *o.Gap > maxReadRegisters {
			at("gap", "sensor %q: gap %d is outside 0..%d", s.ID, *o.Gap, maxReadRegisters)
		}
		gap = *o.Gap
	}
	dc.MaxRegisters, dc.Gap = maxRegs, gap

	points := make([]point, 0, len(specs))
	seen := map[string]int{}
	for i := range specs {
		f := specFile[i]
		p, ok := compile(&specs[i], func(line int, format string, args ...any) {
			errs = append(errs, &settings.Error{File: f, Line: line, Msg: fmt.Sprintf("sensor %q: ", s.ID) + fmt.Sprintf(format, args...)})
		})
		if !ok {
			continue
		}
		if prev, dup := seen[string(p.ch)]; dup {
			errs = append(errs, &settings.Error{File: f, Line: p.line, Msg: fmt.Sprintf("sensor %q: channel %q is defined twice (first on line %d)", s.ID, p.ch, prev)})
			continue
		}
		seen[string(p.ch)] = p.line
		points = append(points, p)
	}
	if len(errs) == 0 {
		limit := maxRegs
		if limit == 0 {
			limit = maxReadRegisters
		}
		if _, err := plan(points, limit, gap); err != nil {
			at("max_registers", "sensor %q: %v", s.ID, err)
		}
	}
	if len(errs) > 0 {
		errs.Sort()
		return dc, nil, errs
	}
	return dc, points, nil
}

func openSensor(_ context.Context, env driver.Env) (driver.Device, error) {
	dc, points, err := decodeSensor(env.Sensor)
	if err != nil {
		return nil, err
	}
	bus, ok := env.Bus.(*Bus)
	if !ok {
		return nil, fmt.Errorf("modbus: sensor %q: bus is %T, not a modbus bus", env.Sensor.ID, env.Bus)
	}
	if !bus.cfg.TCP && (dc.Unit == 0 || dc.Unit > 247) {
		return nil, fmt.Errorf("modbus: sensor %q: unit_id %d on an RS-485 line must be 1..247 (0 is broadcast, which nobody answers)", env.Sensor.ID, dc.Unit)
	}
	log := env.Logger()
	return newDevice(bus, dc, points, log.With("sensor", env.Sensor.ID))
}
