package agent

import (
	"strings"

	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/outputs"
	"github.com/rackwatch/rackwatch/agent/rules"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// Plan is a checked configuration: the config, the sensors and buses as their drivers see them, and what
// the drivers said about each sensor.
type Plan struct {
	Config  *config.Config
	Sensors []*driver.Sensor
	Buses   []*driver.Bus
	// Channels maps a sensor id to the channels its driver declared; a nil entry means the channels are
	// learned at run time.
	Channels map[string][]driver.ChannelInfo
	// Outputs are the checked outputs, in config order (checkoutputs.go).
	Outputs []outputs.Spec
}

// Check validates everything Load cannot know alone: that each driver and bus type exists, that the driver
// accepts its options and bus, and that each rule matches at least one sensor channel. Every error carries
// FILE:LINE.
func Check(cfg *config.Config, reg *driver.Registry) (*Plan, error) {
	var errs settings.Errors
	add := func(line int, format string, args ...any) { errs.Add(cfg.File, line, format, args...) }
	addErr := func(err error, line int) {
		errs = append(errs, settings.AsErrors(err, cfg.File, line)...)
	}
	plan := &Plan{Config: cfg, Channels: map[string][]driver.ChannelInfo{}}
	for i := range cfg.Buses {
		b := &cfg.Buses[i]
		db := b.DriverBus(cfg.File)
		plan.Buses = append(plan.Buses, db)
		bt := reg.Bus(b.Type)
		if bt == nil {
			add(b.Line, "bus %q: unknown type %q (known: %s)", b.ID, b.Type, strings.Join(reg.BusNames(), ", "))
			continue
		}
		if bt.Check != nil {
			if err := bt.Check(db); err != nil {
				addErr(err, b.Line)
			}
		}
	}
	for i := range cfg.Sensors {
		s := &cfg.Sensors[i]
		ds := s.DriverSensor(cfg.File)
		plan.Sensors = append(plan.Sensors, ds)
		d := reg.Driver(s.Driver)
		if d == nil {
			add(s.Line, "sensor %q: unknown driver %q (known: %s)", s.ID, s.Driver, strings.Join(reg.DriverNames(), ", "))
			continue
		}
		switch {
		case s.Bus == "" && len(d.Buses) > 0 && !d.BusOptional:
			add(s.Line, "sensor %q: driver %s needs a bus of type %s", s.ID, d.Name, strings.Join(d.Buses, " or "))
		case s.Bus != "" && len(d.Buses) == 0:
			add(s.Line, "sensor %q: driver %s takes no bus", s.ID, d.Name)
		case s.Bus != "":
			if b := cfg.BusByID(s.Bus); b != nil && !contains(d.Buses, b.Type) {
				add(s.Line, "sensor %q: driver %s cannot use bus %q of type %s (needs %s)", s.ID, d.Name, b.ID, b.Type, strings.Join(d.Buses, " or "))
			}
		}
		chs, err := d.Check(ds)
		if err != nil {
			addErr(err, s.Line)
			continue
		}
		plan.Channels[s.ID] = chs
	}
	plan.checkOutputs(reg, &errs)
	if len(errs) == 0 {
		for i := range cfg.Rules {
			r := &cfg.Rules[i]
			file := cfg.File
			if r.File != "" {
				file = r.File // an included rule file
			}
			if r.Against != nil && !plan.matchesAny(r.Against) {
				errs.Add(file, r.Against.Line, "rule %q: against matches no sensor channel (check its sensor, channel and labels)", r.ID)
			}
			if r.Kind() == rules.KindComposite || plan.matchesAny(r.Match) {
				continue
			}
			errs.Add(file, r.Line, "rule %q matches no sensor channel (check match.sensor, match.channel and labels)", r.ID)
		}
	}
	if len(errs) > 0 {
		errs.Sort()
		return nil, errs
	}
	return plan, nil
}

func (p *Plan) matchesAny(m *rules.Match) bool {
	for i := range p.Config.Sensors {
		s := &p.Config.Sensors[i]
		chs, known := p.Channels[s.ID]
		if chs == nil && known {
			// Channels learned at run time: a rule naming this sensor, or a specific channel, may match.
			if matchSensorOnly(m, s) {
				return true
			}
			continue
		}
		for _, ch := range chs {
			if m.Matches(s.ID, ch.Channel, s.Labels) {
				return true
			}
		}
	}
	return false
}

func matchSensorOnly(m *rules.Match, s *config.Sensor) bool {
	mm := *m
	mm.Channel = ""
	return mm.Matches(s.ID, "", s.Labels)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// LoadAndCheck is config.Load followed by Check.
func LoadAndCheck(path string, reg *driver.Registry) (*Plan, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	return Check(cfg, reg)
}

// IsConfigError reports whether err is a config problem (as opposed to an I/O failure at run time).
func IsConfigError(err error) bool { return settings.IsConfigError(err) }

// RuleSensors describes the plan's sensors to the rules engine, with the channels and units their drivers
// declared.
func (p *Plan) RuleSensors() []rules.Sensor {
	out := p.Config.RuleSensors()
	for i := range out {
		for _, ci := range p.Channels[out[i].ID] {
			out[i].Channels = append(out[i].Channels, rules.Channel{Name: ci.Channel, Unit: ci.Unit})
		}
	}
	return out
}
