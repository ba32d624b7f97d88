package ds18b20

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/onewire"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/devices/v3/ds248x"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/settings"
	"github.com/rackwatch/rackwatch/drivers/i2c/i2cbus"
)

// Options are the sensor keys of a ds18b20.
type Options struct {
	// ROM is the probe's id as the kernel names it: 28-0316a2795aff.
	ROM string `yaml:"rom"`
	// Sysfs is the sysfs mount point (default /sys); a container that mounts the host's /sys elsewhere
	// sets it. Only for probes on the kernel's w1 bus.
	Sysfs string `yaml:"sysfs"`
	// Address is the DS248x bridge's I2C address (default 0x18). Only with an i2c bus.
	Address uint16      `yaml:"address"`
	Mux     *i2cbus.Mux `yaml:"mux"`
}

// BridgeAddresses are the strappings of the DS2482-100 (0x18-0x1B), DS2482-800 (0x18-0x1F) and DS2483 (0x18).
var BridgeAddresses = []uint16{0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F}

type parsed struct {
	rom    string
	addr   onewire.Address
	sysfs  string
	bridge i2cbus.Addr
}

func parse(s *driver.Sensor) (parsed, error) {
	o := Options{Sysfs: "/sys"}
	if err := s.Options.Decode(&o); err != nil {
		return parsed{}, err
	}
	if o.ROM == "" {
		return parsed{}, settings.Errorf(s.Options, "rom", "sensor %q: rom is required (the probe's id, e.g. 28-0316a2795aff; list them with ls /sys/bus/w1/devices)", s.ID)
	}
	a, err := ParseROM(o.ROM)
	if err != nil {
		return parsed{}, settings.Errorf(s.Options, "rom", "sensor %q: %v", s.ID, err)
	}
	switch byte(a) {
	case 0x28, 0x22:
	case 0x10:
		if s.Bus != "" {
			return parsed{}, settings.Errorf(s.Options, "rom", "sensor %q: a DS18S20 (family 10) is supported through the kernel's w1 bus only", s.ID)
		}
	default:
		return parsed{}, settings.Errorf(s.Options, "rom", "sensor %q: family 0x%02x is not a DS18B20 (28), DS1822 (22) or DS18S20 (10)", s.ID, byte(a))
	}
	p := parsed{rom: o.ROM, addr: a, sysfs: o.Sysfs, bridge: i2cbus.Addr{Address: o.Address, Mux: o.Mux}}
	if s.Timeout < time.Second {
		return p, settings.Errors{{File: s.Options.File(), Line: s.Options.Line(), Msg: fmt.Sprintf("sensor %q: a DS18B20 conversion takes up to 750 ms but the read timeout is %s; set every (or timeout) to at least 1s", s.ID, s.Timeout)}}
	}
	if s.Bus == "" {
		if o.Address != 0 || o.Mux != nil {
			return p, settings.Errorf(s.Options, "address", "sensor %q: address and mux are for a DS248x bridge on an I2C bus; add bus: or remove them", s.ID)
		}
		return p, nil
	}
	if p.bridge.Address == 0 {
		p.bridge.Address = 0x18
	}
	if err := p.bridge.Check(s, "DS2482/DS2483", BridgeAddresses); err != nil {
		return p, err
	}
	return p, nil
}

func check(s *driver.Sensor) ([]driver.ChannelInfo, error) {
	if _, err := parse(s); err != nil {
		return nil, err
	}
	return []driver.ChannelInfo{driver.Channel(reading.Temperature, 0.0625)}, nil // 12-bit: 1/16 °C
}

func open(ctx context.Context, env driver.Env) (driver.Device, error) {
	p, err := parse(env.Sensor)
	if err != nil {
		return nil, err
	}
	if env.Sensor.Bus == "" {
		return &w1Probe{
			log:    env.Log,
			sensor: env.Sensor.ID,
			path:   filepath.Join(p.sysfs, "bus", "w1", "devices", p.rom, "w1_slave"),
			family: byte(p.addr),
		}, nil
	}
	b, busID, err := i2cbus.BusOf(env)
	if err != nil {
		return nil, fmt.Errorf("ds18b20: %w", err)
	}
	if p.bridge.Mux != nil {
		b = &i2cbus.Port{Parent: b, Mux: p.bridge.Mux.Address, Channel: p.bridge.Mux.Channel}
	}
	bp := &bridgeProbe{
		log:   env.Log,
		where: fmt.Sprintf("sensor %s (%s) via DS248x on bus %s at %s", env.Sensor.ID, p.rom, busID, p.bridge),
		i2c:   b, bridgeAddr: p.bridge.Address, rom: p.addr,
	}
	if err := bp.init(ctx); err != nil {
		return nil, bp.wrap(err)
	}
	return bp, nil
}

// Register adds the ds18b20 driver.
func Register(r *driver.Registry) {
	r.Add(driver.Driver{Name: "ds18b20", Buses: []string{i2cbus.TypeName}, BusOptional: true, Check: check, Open: open})
}

// w1Probe reads a probe through the kernel. Reading w1_slave makes the kernel run a conversion (up to
// 750 ms) inside read(2), which no context can interrupt, so the read runs in its own goroutine and Read
// returns at ctx's deadline; the next Read collects the late result first instead of starting a second.
type w1Probe struct {
	i2cbus.Tally
	log     *slog.Logger
	sensor  string
	path    string
	family  byte
	pending chan w1Result
}

type w1Result struct {
	text []byte
	err  error
}

func (p *w1Probe) Read(ctx context.Context, out []driver.Sample) ([]driver.Sample, error) {
	out, err := p.read(ctx, out)
	if err != nil {
		p.Add(i2cbus.Classify(err), p.log, err)
	}
	return out, err
}

func (p *w1Probe) read(ctx context.Context, out []driver.Sample) ([]driver.Sample, error) {
	if p.pending == nil {
		p.pending = make(chan w1Result, 1)
		go func(path string, done chan<- w1Result) {
			b, err := os.ReadFile(path)
			done <- w1Result{b, err}
		}(p.path, p.pending)
	}
	var r w1Result
	select {
	case r = <-p.pending:
		p.pending = nil
	case <-ctx.Done():
		return out, fmt.Errorf("ds18b20: sensor %s: %s: kernel read still running: %w", p.sensor, p.path, ctx.Err())
	}
	if r.err != nil {
		if errors.Is(r.err, fs.ErrNotExist) {
			return out, fmt.Errorf("ds18b20: sensor %s: probe %s is not on the 1-Wire bus (%s missing: unplugged, wrong id, or w1-gpio not loaded)", p.sensor, filepath.Base(filepath.Dir(p.path)), filepath.Dir(p.path))
		}
		return out, fmt.Errorf("ds18b20: sensor %s: %w", p.sensor, r.err)
	}
	v, err := ParseW1Slave(r.text, p.family)
	if err != nil {
		return out, fmt.Errorf("ds18b20: sensor %s (%s): %w", p.sensor, p.path, err)
	}
	return append(out, driver.Sample{Channel: reading.Temperature, Value: v}), nil
}

func (p *w1Probe) Close() error { return nil }

// bridgeProbe reads a probe through a DS248x.
type bridgeProbe struct {
	i2cbus.Tally
	log        *slog.Logger
	where      string
	i2c        i2c.Bus
	bridgeAddr uint16
	rom        onewire.Address
	ow         onewire.Bus
	convert    time.Duration
	sp         [9]byte
}

func (p *bridgeProbe) wrap(err error) error { return fmt.Errorf("ds18b20: %s: %w", p.where, err) }

// init (re)creates the bridge and learns the probe's resolution from its scratchpad.
func (p *bridgeProbe) init(ctx context.Context) error {
	d, err := ds248x.New(&shiftAddr{Bus: p.i2c, real: p.bridgeAddr}, 0x18, &ds248x.DefaultOpts)
	if err != nil {
		return err
	}
	return p.initProbe(ctx, d)
}

func (p *bridgeProbe) initProbe(ctx context.Context, ow onewire.Bus) error {
	p.ow = ow
	dev := onewire.Dev{Bus: ow, Addr: p.rom}
	if err := dev.Tx([]byte{0xBE}, p.sp[:]); err != nil {
		p.ow = nil
		return fmt.Errorf("read scratchpad: %w", err)
	}
	if allEqual(p.sp[:], 0xFF) || allEqual(p.sp[:], 0) {
		p.ow = nil
		return ErrNoResponse
	}
	if !onewire.CheckCRC(p.sp[:]) {
		p.ow = nil
		return ErrCRC
	}
	// Conversion time by resolution: 93.75 ms at 9 bits, doubling per bit (datasheet, table 2).
	p.convert = (94 * time.Millisecond) << (p.sp[4] >> 5 & 3)
	return nil
}

func (p *bridgeProbe) Read(ctx context.Context, out []driver.Sample) ([]driver.Sample, error) {
	if p.ow == nil {
		if err := p.init(ctx); err != nil {
			err = p.wrap(fmt.Errorf("re-init: %w", err))
			p.Add(i2cbus.Classify(err), p.log, err)
			return out, err
		}
		p.Add(i2cbus.KindReinit, nil, nil)
	}
	v, err := p.measure(ctx)
	if err != nil {
		p.ow = nil
		err = p.wrap(err)
		p.Add(i2cbus.Classify(err), p.log, err)
		return out, err
	}
	return append(out, driver.Sample{Channel: reading.Temperature, Value: v}), nil
}

func (p *bridgeProbe) measure(ctx context.Context) (float64, error) {
	dev := onewire.Dev{Bus: p.ow, Addr: p.rom}
	// Convert T with a strong pull-up so parasite-powered probes have the current they need.
	if err := dev.TxPower([]byte{0x44}, nil); err != nil {
		return 0, fmt.Errorf("convert: %w", err)
	}
	if err := i2cbus.Sleep(ctx, p.convert); err != nil {
		return 0, err
	}
	if err := dev.Tx([]byte{0xBE}, p.sp[:]); err != nil {
		return 0, fmt.Errorf("read scratchpad: %w", err)
	}
	return CheckScratchpad(p.sp[:])
}

func (p *bridgeProbe) Close() error { return nil }

// shiftAddr hands periph's ds248x an address it accepts (0x18) and sends the traffic to the real one.
type shiftAddr struct {
	i2c.Bus
	real uint16
}

func (s *shiftAddr) Tx(addr uint16, w, r []byte) error {
	if addr == 0x18 {
		addr = s.real
	}
	return s.Bus.Tx(addr, w, r)
}

func (s *shiftAddr) SetSpeed(f physic.Frequency) error { return s.Bus.SetSpeed(f) }

// List returns the temperature probes the kernel's w1 bus has found (their directory names under
// sysfs/bus/w1/devices), for `rackwatch scan --bus w1`.
func List(sysfs string) ([]string, error) {
	dir := filepath.Join(sysfs, "bus", "w1", "devices")
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("ds18b20: %s: %w (is the w1-gpio overlay enabled? dtoverlay=w1-gpio in config.txt)", dir, err)
	}
	var out []string
	for _, fam := range []string{"28", "22", "10"} {
		m, _ := filepath.Glob(filepath.Join(dir, fam+"-*"))
		for _, p := range m {
			out = append(out, filepath.Base(p))
		}
	}
	return out, nil
}
