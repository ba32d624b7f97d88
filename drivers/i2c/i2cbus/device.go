package i2cbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// Addr is where a sensor sits: its 7-bit address and, optionally, the multiplexer channel in front of it.
// Chip drivers embed it in their options struct with `yaml:",inline"`-like flattening done by hand: they
// declare Address and Mux fields and call Target.
type Addr struct {
	Address uint16 `yaml:"address"`
	Mux     *Mux   `yaml:"mux"`
}

// Mux is a PCA9548A channel in front of a sensor.
type Mux struct {
	Address uint16 `yaml:"address"`
	Channel int    `yaml:"channel"`
}

// Check validates the address against the chip's allowed addresses (nil: any 7-bit address) and the mux.
// It reports errors at the offending key.
func (a *Addr) Check(s *driver.Sensor, chip string, allowed []uint16) error {
	if a.Address == 0 {
		if len(allowed) == 0 {
			return settings.Errorf(s.Options, "address", "sensor %q: address is required for %s", s.ID, chip)
		}
		// The first allowed address is the chip's factory default.
		a.Address = allowed[0]
	}
	if a.Address < 0x08 || a.Address > 0x77 {
		return settings.Errorf(s.Options, "address", "sensor %q: address 0x%02x is outside the 7-bit range 0x08-0x77", s.ID, a.Address)
	}
	if allowed != nil && !contains(allowed, a.Address) {
		return settings.Errorf(s.Options, "address", "sensor %q: a %s answers only at %s, not 0x%02x", s.ID, chip, hexList(allowed), a.Address)
	}
	if a.Mux != nil {
		if a.Mux.Address < 0x70 || a.Mux.Address > 0x77 {
			return settings.Errorf(s.Options, "mux", "sensor %q: mux address 0x%02x is not a PCA9548A address (0x70-0x77)", s.ID, a.Mux.Address)
		}
		if a.Mux.Channel < 0 || a.Mux.Channel > 7 {
			return settings.Errorf(s.Options, "mux", "sensor %q: mux channel %d is not 0-7", s.ID, a.Mux.Channel)
		}
	}
	return nil
}

// String is "0x76" or "0x76 via mux 0x70 channel 3".
func (a Addr) String() string {
	if a.Mux == nil {
		return fmt.Sprintf("0x%02x", a.Address)
	}
	return fmt.Sprintf("0x%02x via mux 0x%02x channel %d", a.Address, a.Mux.Address, a.Mux.Channel)
}

func contains(l []uint16, v uint16) bool {
	for _, x := range l {
		if x == v {
			return true
		}
	}
	return false
}

func hexList(l []uint16) string {
	s := ""
	for i, a := range l {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("0x%02x", a)
	}
	return s
}

// Port is one channel of a PCA9548A multiplexer. Every transaction first writes the channel's bit to the
// mux control register and then talks to the device, both under the bus lock. Writing the control byte
// every time (rather than remembering the last one) costs one byte per transaction and keeps working
// after the mux itself was power-cycled.
type Port struct {
	Parent  i2c.Bus
	Mux     uint16
	Channel int
}

// Tx implements i2c.Bus.
func (p *Port) Tx(addr uint16, w, r []byte) error {
	raw := p.Parent
	if b, ok := p.Parent.(*Bus); ok {
		b.mu.Lock()
		defer b.mu.Unlock()
		raw = b.b
	}
	sel := [1]byte{1 << p.Channel}
	if err := raw.Tx(p.Mux, sel[:], nil); err != nil {
		return fmt.Errorf("select mux 0x%02x channel %d: %w", p.Mux, p.Channel, err)
	}
	return raw.Tx(addr, w, r)
}

// SetSpeed implements i2c.Bus.
func (p *Port) SetSpeed(f physic.Frequency) error { return p.Parent.SetSpeed(f) }

// String implements i2c.Bus.
func (p *Port) String() string { return fmt.Sprintf("%s/mux-0x%02x/%d", p.Parent, p.Mux, p.Channel) }

// Chip is what a chip driver implements. Both methods run on the bus's goroutine and must honour ctx in
// any wait (use Sleep).
type Chip interface {
	// Init checks the chip id and configures the chip. It runs at Open and again before the first read
	// after a failed one (the chip may have been replaced or power-cycled and lost its configuration).
	// A wrong chip id should wrap ErrWrongChip.
	Init(ctx context.Context, d *i2c.Dev) error
	// Measure appends one Sample per channel.
	Measure(ctx context.Context, d *i2c.Dev, out []driver.Sample) ([]driver.Sample, error)
}

// ErrWrongChip is wrapped by Init when the device at the address is not the chip configured.
var ErrWrongChip = errors.New("wrong chip")

// ErrNotReady is wrapped by Measure when the chip answered but has no value yet (warming up, between
// measurement periods). Unlike other errors it does not make the next read re-initialise the chip, which
// would restart the warm-up.
var ErrNotReady = errors.New("not ready")

// Device is a driver.Poller around a Chip.
type Device struct {
	name  string // chip driver name, the error prefix
	where string // "sensor X on bus Y at 0x76"
	chip  Chip
	dev   i2c.Dev
	ready bool
	log   *slog.Logger
	Tally
}

// BusOf returns the i2c.Bus a driver was handed and the bus id for messages.
func BusOf(env driver.Env) (i2c.Bus, string, error) {
	b, ok := env.Bus.(i2c.Bus)
	if !ok || b == nil {
		return nil, "", fmt.Errorf("sensor %s: bus %q is not an I2C bus", env.Sensor.ID, env.Sensor.Bus)
	}
	id := env.Sensor.Bus
	if bb, ok := b.(*Bus); ok && id == "" {
		id = bb.ID
	}
	return b, id, nil
}

// Open initialises chip at a on the sensor's bus and returns a Poller. A failed Init (no answer, wrong
// chip id) is returned as an error naming the sensor, bus and address.
func Open(ctx context.Context, env driver.Env, name string, a Addr, chip Chip) (*Device, error) {
	b, busID, err := BusOf(env)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if a.Mux != nil {
		b = &Port{Parent: b, Mux: a.Mux.Address, Channel: a.Mux.Channel}
	}
	log := env.Logger()
	d := &Device{
		name:  name,
		where: fmt.Sprintf("sensor %s on bus %s at %s", env.Sensor.ID, busID, a),
		chip:  chip,
		dev:   i2c.Dev{Bus: b, Addr: a.Address},
		log:   log,
	}
	if err := chip.Init(ctx, &d.dev); err != nil {
		return nil, d.wrap(err)
	}
	d.ready = true
	return d, nil
}

func (d *Device) wrap(err error) error {
	return fmt.Errorf("%s: %s: %w", d.name, d.where, err)
}

// Read implements driver.Poller. After a failed read the next one first re-runs Init, so a sensor that was
// unplugged and plugged back in (and came back unconfigured) is working again without a restart.
func (d *Device) Read(ctx context.Context, out []driver.Sample) ([]driver.Sample, error) {
	if !d.ready {
		if err := d.chip.Init(ctx, &d.dev); err != nil {
			err = d.wrap(fmt.Errorf("re-init: %w", err))
			d.Add(Classify(err), d.log, err)
			return out, err
		}
		d.ready = true
		d.Add(KindReinit, nil, nil)
		d.log.Info("sensor answers again", "driver", d.name, "where", d.where)
	}
	n := len(out)
	out, err := d.chip.Measure(ctx, &d.dev, out)
	if err != nil {
		if !errors.Is(err, ErrNotReady) {
			d.ready = false
		}
		err = d.wrap(err)
		d.Add(Classify(err), d.log, err)
		return out[:n], err
	}
	for _, s := range out[n:] {
		if s.Err != nil {
			d.Add(Classify(s.Err), d.log, s.Err)
		}
	}
	return out, nil
}

// Close implements driver.Device. The bus belongs to the agent and stays open.
func (d *Device) Close() error { return nil }

var (
	_ driver.Poller   = (*Device)(nil)
	_ driver.Counters = (*Device)(nil)
)

// timers are reused by Sleep so a conversion wait does not allocate on every read. Since Go 1.23 a
// stopped timer's channel is drained by Stop, so a pooled timer can be Reset safely.
var timers = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}}

// Sleep waits for d or until ctx is done. Conversion waits use it so the scheduler's timeout interrupts them.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := timers.Get().(*time.Timer)
	t.Reset(d)
	defer func() {
		t.Stop()
		timers.Put(t)
	}()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CRC8 is the Sensirion/Aosong CRC-8 (polynomial 0x31, init 0xFF, no reflection), used by the SCD4x, SGP30,
// AHT20 and HDC302x. Check value: CRC8({0xBE, 0xEF}) == 0x92 (SCD4x datasheet, 3.11; SGP30 datasheet, 6.6).
func CRC8(b []byte) byte {
	crc := byte(0xFF)
	for _, v := range b {
		crc ^= v
		for i := 0; i < 8; i++ {
			if crc&0x80 != 0 {
				crc = crc<<1 ^ 0x31
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// Words decodes n big-endian 16-bit words each followed by its CRC8 (the Sensirion framing) from b.
func Words(b []byte, words []uint16) error {
	if len(b) < 3*len(words) {
		return fmt.Errorf("short response: %d bytes for %d words", len(b), len(words))
	}
	for i := range words {
		p := b[3*i : 3*i+3]
		if c := CRC8(p[:2]); c != p[2] {
			return fmt.Errorf("%w in word %d: got 0x%02x, computed 0x%02x", ErrCRC, i, p[2], c)
		}
		words[i] = uint16(p[0])<<8 | uint16(p[1])
	}
	return nil
}

// Scratch is embedded in a chip's state to build register writes without allocating on every read:
// d.Tx(c.W(reg, value), nil).
type Scratch struct{ w [4]byte }

// W returns the bytes in the scratch buffer.
func (s *Scratch) W(b ...byte) []byte { return s.w[:copy(s.w[:], b)] }
