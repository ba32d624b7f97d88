package main

import (
	"context"
	"fmt"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/drivers/gpio"
	"github.com/rackwatch/rackwatch/drivers/hook"
	"github.com/rackwatch/rackwatch/drivers/i2c/ads1115"
	"github.com/rackwatch/rackwatch/drivers/i2c/aht20"
	"github.com/rackwatch/rackwatch/drivers/i2c/bme280"
	"github.com/rackwatch/rackwatch/drivers/i2c/hdc302x"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
	"github.com/rackwatch/rackwatch/drivers/i2c/ina219"
	"github.com/rackwatch/rackwatch/drivers/i2c/mcp9808"
	"github.com/rackwatch/rackwatch/drivers/i2c/scd4x"
	"github.com/rackwatch/rackwatch/drivers/i2c/sgp30"
	"github.com/rackwatch/rackwatch/drivers/i2c/tmp102"
	"github.com/rackwatch/rackwatch/drivers/modbus"
	"github.com/rackwatch/rackwatch/drivers/onewire/ds18b20"
	"github.com/rackwatch/rackwatch/drivers/thermal"
)

// registry lists every driver, bus type and output type compiled into the binary. It is filled here, explicitly, rather
// than by init-time side effects, so tests can build their own.
func registry() *driver.Registry {
	r := driver.NewRegistry()
	// Sensors on the gateway itself: I2C (bus type and chips), 1-Wire, GPIO contacts, thermal zones.
	i2cbus.Register(r)
	bme280.Register(r)
	mcp9808.Register(r)
	tmp102.Register(r)
	aht20.Register(r)
	hdc302x.Register(r)
	scd4x.Register(r)
	sgp30.Register(r)
	ads1115.Register(r)
	ina219.Register(r)
	ds18b20.Register(r)
	gpio.Register(r)
	thermal.Register(r)
	modbus.Register(r)
	// The families a build can leave out (registry_*.go: SNMP, NUT, Megatec, the firmware bridge, the
	// simulated sensors), each with its build tag; left out, its names still answer, with an error that
	// says so.
	for _, f := range families {
		f.register(r)
	}
	// Output types: gpio, sim, modbus, nut and bridge register theirs with their drivers above (a Modbus
	// output shares its bus with the sensors on it, a bridge output its board's line); exec hooks here.
	hook.Register(r)
	return r
}

// family is a group of drivers and output types that a build tag leaves out of the binary.
type family struct {
	name     string // what it is, for messages: "SNMP"
	tag      string // the build tag that leaves it out: "nosnmp"
	absent   bool   // this build left it out
	register func(r *driver.Registry)
}

// families are the optional families, added by the registry_*.go files.
var families []family

// leftOut registers stand-ins for the drivers and output types of a family this build leaves out: a
// config naming one fails `rackwatch check` at its line, saying why, instead of "unknown driver".
func leftOut(name, tag string, drivers, outputs []string) family {
	msg := func(kind, what string) error {
		return fmt.Errorf("%s %q: this rackwatch was built without %s (build tag %s); install the full build to use it", kind, what, name, tag)
	}
	return family{name: name, tag: tag, absent: true, register: func(r *driver.Registry) {
		for _, d := range drivers {
			// Any bus the config gives it is accepted, so that the only error is this one.
			r.Add(driver.Driver{Name: d, BusOptional: true, Buses: r.BusNames(),
				Check: func(*driver.Sensor) ([]driver.ChannelInfo, error) { return nil, msg("driver", d) },
				Open:  func(context.Context, driver.Env) (driver.Device, error) { return nil, msg("driver", d) }})
		}
		for _, o := range outputs {
			r.AddOutput(driver.OutputType{Name: o,
				Check: func(*driver.Output) (driver.OutputInfo, error) { return driver.OutputInfo{}, msg("output type", o) },
				Open:  func(context.Context, driver.OutputEnv) (driver.Actuator, error) { return nil, msg("output type", o) }})
		}
	}}
}

// leftOutFamilies names what this build leaves out, for `rackwatch version`.
func leftOutFamilies() []string {
	var out []string
	for _, f := range families {
		if f.absent {
			out = append(out, f.name)
		}
	}
	return out
}

// i2cChips lists the I2C chips `rackwatch scan` can name: every chip driver above exports its Identifier,
// and the scanner, which imports no driver, asks them in this order. HDC302x comes before INA219 (they
// share 0x44-0x47, and its command probe goes first), TMP102 before ADS1115 (the order of "TMP102 or
// ADS1115 (could not tell)").
func i2cChips() []i2cbus.Identifier {
	return []i2cbus.Identifier{
		bme280.Identifier,
		mcp9808.Identifier,
		aht20.Identifier,
		sgp30.Identifier,
		scd4x.Identifier,
		hdc302x.Identifier,
		ina219.Identifier,
		tmp102.Identifier,
		ads1115.Identifier,
	}
}
