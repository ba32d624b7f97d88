package config

import (
	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/rules"
)

// The views below are what each consumer of the config gets: small values of its own types, so that the
// drivers and the engine never see the whole file (nor the YAML library).

// DriverSensor is the sensor as its driver sees it.
func (s *Sensor) DriverSensor(file string) *driver.Sensor {
	o := s.Options
	if o == nil {
		o = NoOptions(file, s.Line)
	}
	return &driver.Sensor{ID: s.ID, Driver: s.Driver, Bus: s.Bus, Every: s.Every.D(), Timeout: s.Timeout.D(), Labels: s.Labels, Options: o}
}

// DriverBus is the bus as its bus type sees it.
func (b *Bus) DriverBus(file string) *driver.Bus {
	o := b.Options
	if o == nil {
		o = NoOptions(file, b.Line)
	}
	return &driver.Bus{ID: b.ID, Type: b.Type, Options: o}
}

// RuleSensors describes the configured sensors to the rules engine: ids, intervals and labels. Their
// channels are known only once the drivers have checked their options; the agent adds them.
func (cfg *Config) RuleSensors() []rules.Sensor {
	out := make([]rules.Sensor, len(cfg.Sensors))
	for i := range cfg.Sensors {
		s := &cfg.Sensors[i]
		out[i] = rules.Sensor{ID: s.ID, Every: s.Every.D(), Labels: s.Labels}
	}
	return out
}
