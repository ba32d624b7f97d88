package i2cbus

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/conn/v3/physic"

	// The sysfs host driver registers /dev/i2c-N with i2creg.
	_ "periph.io/x/host/v3/sysfs"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// TypeName is the `type:` of an I2C bus in the config.
const TypeName = "i2c"

// BusOpts are the keys of an `i2c` bus.
type BusOpts struct {
	// Device is the Linux I2C adapter, e.g. /dev/i2c-1 (the Pi's pins 3 and 5).
	Device string `yaml:"device"`
}

// Bus is an opened I2C adapter. Tx is serialised, and a multiplexer channel selection and the transaction
// behind it happen under one lock, so two sensors behind different mux channels never interleave.
type Bus struct {
	// ID is the bus id from the config, used in error messages.
	ID string
	mu sync.Mutex
	b  i2c.Bus
	c  interface{ Close() error }
}

// NewBus wraps an already opened periph bus (tests pass an i2ctest.Playback).
func NewBus(id string, b i2c.Bus) *Bus {
	bus := &Bus{ID: id, b: b}
	if c, ok := b.(interface{ Close() error }); ok {
		bus.c = c
	}
	return bus
}

// Tx implements i2c.Bus.
func (b *Bus) Tx(addr uint16, w, r []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Tx(addr, w, r)
}

// SetSpeed implements i2c.Bus.
func (b *Bus) SetSpeed(f physic.Frequency) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.SetSpeed(f)
}

// String implements i2c.Bus.
func (b *Bus) String() string { return b.ID }

// Close closes the adapter.
func (b *Bus) Close() error {
	if b.c == nil {
		return nil
	}
	return b.c.Close()
}

var hostOnce = sync.OnceValue(func() error {
	// Only the sysfs host driver is needed for /dev/i2c-N; loading it alone (rather than host.Init and
	// every SoC driver) keeps the binary small and works on any Linux board.
	_, err := driverreg.Init()
	return err
})

// OpenDevice opens a Linux I2C adapter by path (/dev/i2c-1) or periph name (I2C1, 1).
func OpenDevice(device string) (i2c.BusCloser, error) {
	if strings.HasPrefix(device, "/dev/") {
		// Say plainly that the adapter is missing rather than periph's "no bus found".
		if _, err := os.Stat(device); err != nil {
			return nil, fmt.Errorf("i2cbus: %w (is I2C enabled? dtparam=i2c_arm=on in config.txt, or modprobe i2c-dev)", err)
		}
	}
	if err := hostOnce(); err != nil {
		return nil, fmt.Errorf("i2cbus: periph host init: %w", err)
	}
	b, err := i2creg.Open(device)
	if err != nil {
		return nil, fmt.Errorf("i2cbus: open %s: %w (is I2C enabled, e.g. dtparam=i2c_arm=on, and is the user in group i2c?)", device, err)
	}
	return b, nil
}

func checkBus(b *driver.Bus) error {
	o := BusOpts{}
	if err := b.Options.Decode(&o); err != nil {
		return err
	}
	if o.Device == "" {
		return settings.Errorf(b.Options, "device", "bus %q: device is required (e.g. device: /dev/i2c-1)", b.ID)
	}
	if strings.HasPrefix(o.Device, "/") && !strings.HasPrefix(o.Device, "/dev/i2c-") {
		return settings.Errorf(b.Options, "device", "bus %q: device %q is not an I2C adapter (expected /dev/i2c-N)", b.ID, o.Device)
	}
	return nil
}

func openBus(_ context.Context, b *driver.Bus, _ *slog.Logger) (any, error) {
	o := BusOpts{}
	if err := b.Options.Decode(&o); err != nil {
		return nil, err
	}
	bc, err := OpenDevice(o.Device)
	if err != nil {
		return nil, fmt.Errorf("bus %s: %w", b.ID, err)
	}
	return NewBus(b.ID, bc), nil
}

// Register adds the `i2c` bus type.
func Register(r *driver.Registry) {
	r.AddBus(driver.BusType{Name: TypeName, Check: checkBus, Open: openBus})
}
