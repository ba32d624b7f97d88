package i2cbus

import (
	"context"

	"github.com/rackwatch/rackwatch/agent/driver"
)

// Options are the keys of an I2C sensor that has nothing to configure but where it is.
type Options struct {
	Address uint16 `yaml:"address"`
	Mux     *Mux   `yaml:"mux"`
}

// Spec describes a chip driver with only address and mux options.
type Spec struct {
	// Name is the driver name (`driver:` in the config) and the error prefix.
	Name string
	// Chip is the part's name in messages (MCP9808).
	Chip string
	// Addresses the chip can be strapped to, factory default first; nil allows any.
	Addresses []uint16
	Channels  []driver.ChannelInfo
	// New returns a fresh chip state for one sensor.
	New func() Chip
}

// Decode decodes and checks a sensor's address and mux against the chip's addresses.
func Decode(s *driver.Sensor, chip string, addrs []uint16) (Addr, error) {
	o := Options{}
	if err := s.Options.Decode(&o); err != nil {
		return Addr{}, err
	}
	a := Addr{Address: o.Address, Mux: o.Mux}
	return a, a.Check(s, chip, addrs)
}

// Driver turns a Spec into a driver.Driver on the i2c bus type.
func (sp Spec) Driver() driver.Driver {
	return driver.Driver{
		Name:  sp.Name,
		Buses: []string{TypeName},
		Check: func(s *driver.Sensor) ([]driver.ChannelInfo, error) {
			if _, err := Decode(s, sp.Chip, sp.Addresses); err != nil {
				return nil, err
			}
			return sp.Channels, nil
		},
		Open: func(ctx context.Context, env driver.Env) (driver.Device, error) {
			a, err := Decode(env.Sensor, sp.Chip, sp.Addresses)
			if err != nil {
				return nil, err
			}
			return Open(ctx, env, sp.Name, a, sp.New())
		},
	}
}
