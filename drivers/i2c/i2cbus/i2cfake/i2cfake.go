// Package i2cfake has test helpers for the I2C drivers: a bus that can be "unplugged" in front of an
// i2ctest.Playback, and a way to build a config.Sensor from a YAML snippet so options are decoded exactly
// as the agent decodes them.
package i2cfake

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"

	"github.com/rackwatch/rackwatch/agent/config"
)

// ErrNACK is what an unplugged device looks like on Linux i2c-dev (the kernel returns ENXIO / EREMOTEIO).
var ErrNACK = errors.New("i2c: no acknowledge (remote I/O error)")

// Plug is an I2C bus that passes transactions to Bus while Unplugged is false and NACKs them otherwise.
type Plug struct {
	Bus       i2c.Bus
	Unplugged atomic.Bool
}

// Tx implements i2c.Bus.
func (p *Plug) Tx(addr uint16, w, r []byte) error {
	if p.Unplugged.Load() {
		return fmt.Errorf("addr 0x%02x: %w", addr, ErrNACK)
	}
	return p.Bus.Tx(addr, w, r)
}

// SetSpeed implements i2c.Bus.
func (p *Plug) SetSpeed(f physic.Frequency) error { return nil }

// String implements i2c.Bus.
func (p *Plug) String() string { return "plug" }

// Sensor parses a config holding the given sensor mapping (one YAML flow mapping or block) on a bus
// i2c1 and returns the sensor.
func Sensor(t testing.TB, sensorYAML string) *config.Sensor {
	t.Helper()
	doc := "gateway: {id: gw}\nmqtt: {embedded_broker: '127.0.0.1:0'}\nbuses:\n  - {id: i2c1, type: i2c, device: /dev/i2c-1}\nsensors:\n  - " + sensorYAML + "\n"
	cfg, err := config.Parse("test.yaml", []byte(doc))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, doc)
	}
	return &cfg.Sensors[0]
}
