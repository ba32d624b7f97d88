package main

import (
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
	"github.com/rackwatch/rackwatch/drivers/megatec"
	"github.com/rackwatch/rackwatch/drivers/modbus"
	"github.com/rackwatch/rackwatch/drivers/nut"
	"github.com/rackwatch/rackwatch/drivers/onewire/ds18b20"
	"github.com/rackwatch/rackwatch/drivers/sim"
	"github.com/rackwatch/rackwatch/drivers/snmp"
	"github.com/rackwatch/rackwatch/drivers/thermal"
	fwbridge "github.com/rackwatch/rackwatch/firmware-bridge"
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
	sim.Register(r)
	nut.Register(r)
	megatec.Register(r)
	snmp.Register(r)
	modbus.Register(r)
	fwbridge.Register(r)
	// Output types: gpio, sim, modbus, nut and bridge register theirs with their drivers above (a Modbus
	// output shares its bus with the sensors on it, a bridge output its board's line); exec hooks here.
	hook.Register(r)
	return r
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
