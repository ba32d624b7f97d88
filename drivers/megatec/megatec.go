package megatec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/tarm/serial"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// Options are the `megatec` driver's keys in a sensor entry.
type Options struct {
	// Device is the serial port, e.g. /dev/ttyUSB0.
	Device string `yaml:"device"`
	// Baud defaults to the protocol's 2400.
	Baud int `yaml:"baud"`
	// BatteryCells is the number of 2 V lead-acid cells in series. On-line UPSes report volts per cell;
	// without it the cell count is derived from the nominal battery voltage of the F reply.
	BatteryCells int `yaml:"battery_cells"`
	// BatteryVoltageLow and High are the pack voltages taken as 0 % and 100 % for the charge estimate.
	// Without them they are derived from the nominal battery voltage: 10.4 V and 13.0 V per 12 V block.
	BatteryVoltageLow  float64 `yaml:"battery_voltage_low"`
	BatteryVoltageHigh float64 `yaml:"battery_voltage_high"`
	// RuntimeFullLoad and RuntimeHalfLoad are the battery's runtime at 100 % and 50 % load from full
	// charge (the UPS's datasheet or a calibration run). With both set the runtime channel is estimated.
	RuntimeFullLoad settings.Duration `yaml:"runtime_full_load"`
	RuntimeHalfLoad settings.Duration `yaml:"runtime_half_load"`
	// ReplyTimeout bounds the wait for one reply line.
	ReplyTimeout settings.Duration `yaml:"reply_timeout"`
	// Retries is how often a rejected or missing reply is asked for again within one poll.
	Retries int `yaml:"retries"`
}

func defaults() Options {
	return Options{Baud: 2400, ReplyTimeout: settings.Duration(time.Second), Retries: 2}
}

// Register adds the megatec driver.
func Register(r *driver.Registry) {
	r.Add(driver.Driver{Name: "megatec", Check: check, Open: open})
}

func decode(s *driver.Sensor) (*Options, error) {
	o := defaults()
	if err := s.Options.Decode(&o); err != nil {
		return nil, err
	}
	probs := settings.NewProblems(s.Options)
	add := probs.Add
	if o.Device == "" {
		add("device", "megatec: device is required (the serial port, e.g. /dev/ttyUSB0)")
	}
	switch o.Baud {
	case 1200, 2400, 4800, 9600, 19200:
	default:
		add("baud", "megatec: baud %d: the protocol runs at 2400 (some units 1200–19200)", o.Baud)
	}
	if o.BatteryCells < 0 || o.BatteryCells > 400 {
		add("battery_cells", "megatec: battery_cells %d is not a cell count", o.BatteryCells)
	}
	if (o.BatteryVoltageLow == 0) != (o.BatteryVoltageHigh == 0) {
		add("battery_voltage_low", "megatec: battery_voltage_low and battery_voltage_high go together")
	} else if o.BatteryVoltageLow < 0 || o.BatteryVoltageLow >= o.BatteryVoltageHigh && o.BatteryVoltageHigh != 0 {
		add("battery_voltage_low", "megatec: battery_voltage_low %g must be below battery_voltage_high %g", o.BatteryVoltageLow, o.BatteryVoltageHigh)
	}
	if (o.RuntimeFullLoad == 0) != (o.RuntimeHalfLoad == 0) {
		add("runtime_full_load", "megatec: runtime_full_load and runtime_half_load go together")
	} else if o.RuntimeFullLoad != 0 && o.RuntimeHalfLoad <= o.RuntimeFullLoad {
		add("runtime_half_load", "megatec: runtime_half_load %s must be longer than runtime_full_load %s", o.RuntimeHalfLoad, o.RuntimeFullLoad)
	}
	if o.ReplyTimeout < settings.Duration(100*time.Millisecond) {
		add("reply_timeout", "megatec: reply_timeout %s is shorter than a reply takes at 2400 bit/s (≈200ms)", o.ReplyTimeout)
	}
	if o.Retries < 0 || o.Retries > 10 {
		add("retries", "megatec: retries %d: use 0 to 10", o.Retries)
	}
	if err := probs.Err(); err != nil {
		return nil, err
	}
	return &o, nil
}

func (o *Options) channels() []reading.Channel {
	chs := []reading.Channel{reading.SelfTest, reading.OnBattery, reading.LowBattery, reading.Charge}
	if o.RuntimeFullLoad != 0 {
		chs = append(chs, reading.Runtime)
	}
	return append(chs, reading.BatteryVoltage, reading.BatteryTemp, reading.InputVoltage, reading.OutputVoltage,
		reading.Load, reading.Overload, reading.Fault)
}

func check(s *driver.Sensor) ([]driver.ChannelInfo, error) {
	o, err := decode(s)
	if err != nil {
		return nil, err
	}
	return driver.Channels(o.channels()...), nil
}

// Port is the serial line to the UPS. Read must return within a fraction of a second when nothing
// arrives, with (0, nil) or (0, io.EOF): a *serial.Port opened with a ReadTimeout does, and so the driver
// can honour its context without a reader goroutine. Flush, when the port has it, discards stale input.
type Port interface {
	io.ReadWriteCloser
}

// OpenSerial opens a serial port at baud 8N1 with a short read timeout, as a Port.
func OpenSerial(name string, baud int) (Port, error) {
	p, err := serial.OpenPort(&serial.Config{Name: name, Baud: baud, Size: 8, Parity: serial.ParityNone,
		StopBits: serial.Stop1, ReadTimeout: 100 * time.Millisecond})
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("megatec: open %s: %w (add the user rackwatch runs as to the group owning the port, usually dialout)", name, err)
		}
		return nil, fmt.Errorf("megatec: open %s: %w", name, err)
	}
	return p, nil
}

// Stats counts rejected replies by kind.
type Stats struct {
	Short, Malformed, Echo, Timeout uint64
}

// Device is an opened Megatec UPS.
type Device struct {
	opts *Options
	log  *slog.Logger
	open func() (Port, error)
	port Port

	buf     [256]byte // bytes read but not yet consumed
	n       int
	line    [128]byte
	cmd     [8]byte
	counts  [4]atomic.Uint64 // short, malformed, echo, timeout
	logged  [4]bool
	rating  Rating
	ratingQ int // F queries left before giving up (an older unit may not know F)
	infoQ   int
	st      Status
	parseQ1 func([]byte) error

	errNoField             [7]error
	errPerCell, errNoRange error
}

const (
	kindShort = iota
	kindMalformed
	kindEcho
	kindTimeout
)

func open(ctx context.Context, env driver.Env) (driver.Device, error) {
	o, err := decode(env.Sensor)
	if err != nil {
		return nil, err
	}
	log := env.Logger()
	d := New(o, log, func() (Port, error) { return OpenSerial(o.Device, o.Baud) })
	return d, nil
}

// New returns a device that opens its port with openPort on the first Read and again after an I/O error
// (a USB-serial adapter unplugged and replugged).
func New(o *Options, log *slog.Logger, openPort func() (Port, error)) *Device {
	d := &Device{opts: o, log: log, open: openPort, ratingQ: 3, infoQ: 3}
	d.parseQ1 = d.setQ1
	names := [7]string{"input voltage", "input fault voltage", "output voltage", "load", "frequency", "battery voltage", "temperature"}
	for i, n := range names {
		d.errNoField[i] = fmt.Errorf("megatec: the UPS does not report its %s (field filled with '@')", n)
	}
	d.errPerCell = errors.New("megatec: the UPS reports volts per cell and its cell count is unknown; set battery_cells")
	d.errNoRange = errors.New("megatec: no battery voltage range for the charge estimate; set battery_voltage_low and battery_voltage_high")
	return d
}

// Stats returns the rejected replies so far.
func (d *Device) Stats() Stats {
	return Stats{Short: d.counts[kindShort].Load(), Malformed: d.counts[kindMalformed].Load(),
		Echo: d.counts[kindEcho].Load(), Timeout: d.counts[kindTimeout].Load()}
}

// Counters implements driver.Counters: the rejected replies by kind, for /metrics.
func (d *Device) Counters() map[string]uint64 {
	st := d.Stats()
	return map[string]uint64{"short_reply": st.Short, "malformed_reply": st.Malformed, "echoed_command": st.Echo, "reply_timeout": st.Timeout}
}

// Close closes the serial port.
func (d *Device) Close() error {
	if d.port == nil {
		return nil
	}
	err := d.port.Close()
	d.port = nil
	return err
}

// ErrPort marks a failure of the serial port itself (unplugged adapter), after which it is reopened.
var ErrPort = errors.New("megatec: serial port")

func errIO(err error) error { return fmt.Errorf("%w: %w", ErrPort, err) }

// Read polls the UPS with Q1 (and, until known, F and I) and appends one sample per channel.
func (d *Device) Read(ctx context.Context, out []driver.Sample) ([]driver.Sample, error) {
	if d.port == nil {
		p, err := d.open()
		if err != nil {
			return out, err
		}
		d.port, d.n = p, 0
	}
	var err error
	if d.infoQ > 0 {
		err = d.queryInfo(ctx)
	}
	if d.ratingQ > 0 && !errors.Is(err, ErrPort) {
		err = d.queryRating(ctx)
	}
	if !errors.Is(err, ErrPort) {
		err = d.exchange(ctx, "Q1", d.parseQ1)
	}
	if err != nil {
		if errors.Is(err, ErrPort) {
			d.Close()
		}
		if ctx.Err() != nil {
			return out, fmt.Errorf("megatec: %w", ctx.Err())
		}
		return out, err
	}
	return d.samples(out, &d.st), nil
}

// setQ1 keeps the decoded status in the device; it is bound once in New so a poll does not allocate.
func (d *Device) setQ1(line []byte) error {
	var err error
	d.st, err = ParseQ1(line)
	return err
}

// queryInfo asks for the identification, a few times at most; only a port failure is returned.
func (d *Device) queryInfo(ctx context.Context) error {
	d.infoQ--
	err := d.exchangeOnce(ctx, "I", func(line []byte) error {
		info, err := ParseI(line)
		if err == nil {
			d.log.Info("megatec: UPS identified", "device", d.opts.Device, "company", info.Company, "model", info.Model, "version", info.Version)
		}
		return err
	})
	if err == nil || errors.Is(err, ErrEcho) {
		d.infoQ = 0
	}
	if errors.Is(err, ErrPort) {
		return err
	}
	return nil
}

// queryRating asks for the rated values, a few times at most; only a port failure is returned.
func (d *Device) queryRating(ctx context.Context) error {
	d.ratingQ--
	err := d.exchangeOnce(ctx, "F", func(line []byte) error {
		r, err := ParseF(line)
		if err == nil {
			d.rating = r
			d.log.Info("megatec: UPS rating", "device", d.opts.Device, "voltage", r.Voltage, "battery_voltage", r.BatteryVoltage, "frequency", r.Frequency)
		}
		return err
	})
	if err == nil || errors.Is(err, ErrEcho) {
		d.ratingQ = 0
	}
	if errors.Is(err, ErrPort) {
		return err
	}
	return nil
}

// exchange sends cmd and parses its reply, retrying rejected or missing replies.
func (d *Device) exchange(ctx context.Context, cmd string, parse func([]byte) error) error {
	var err error
	for attempt := 0; attempt <= d.opts.Retries; attempt++ {
		err = d.exchangeOnce(ctx, cmd, parse)
		if err == nil || errors.Is(err, ErrPort) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

func (d *Device) exchangeOnce(ctx context.Context, cmd string, parse func([]byte) error) error {
	line, err := d.transact(ctx, cmd)
	if err == nil {
		err = parse(line)
	}
	if err != nil {
		d.reject(cmd, err)
	}
	return err
}

// reject counts a bad reply by kind and logs the first of each kind.
func (d *Device) reject(cmd string, err error) {
	kind := -1
	switch {
	case errors.Is(err, ErrShort):
		kind = kindShort
	case errors.Is(err, ErrMalformed):
		kind = kindMalformed
	case errors.Is(err, ErrEcho):
		kind = kindEcho
	case errors.Is(err, ErrTimeout):
		kind = kindTimeout
	}
	if kind < 0 {
		return
	}
	d.counts[kind].Add(1)
	if !d.logged[kind] {
		d.logged[kind] = true
		d.log.Warn("megatec: rejected reply (further ones of this kind are only counted)", "device", d.opts.Device, "command", cmd, "err", err)
	}
}

type flusher interface{ Flush() error }

// transact writes cmd+CR and returns the next non-empty line, without its CR. The line aliases d.line.
func (d *Device) transact(ctx context.Context, cmd string) ([]byte, error) {
	// A reply that arrived after its command timed out must not be taken for this command's reply.
	d.n = 0
	if f, ok := d.port.(flusher); ok {
		_ = f.Flush()
	}
	c := append(d.cmd[:0], cmd...)
	c = append(c, '\r')
	if _, err := d.port.Write(c); err != nil {
		return nil, errIO(err)
	}
	deadline := time.Now().Add(d.opts.ReplyTimeout.D())
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	ln := 0
	overlong := false
	for {
		for i := 0; i < d.n; i++ {
			b := d.buf[i]
			if b != '\r' {
				if ln < len(d.line) {
					d.line[ln] = b
					ln++
				} else {
					overlong = true
				}
				continue
			}
			copy(d.buf[:], d.buf[i+1:d.n])
			d.n -= i + 1
			i = -1
			line := trimLine(d.line[:ln])
			if overlong {
				return nil, fmt.Errorf("%w: a line longer than %d bytes", ErrMalformed, len(d.line))
			}
			if len(line) == 0 {
				ln = 0
				continue
			}
			return line, nil
		}
		d.n = 0
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if time.Now().After(deadline) {
			if ln > 0 {
				return nil, fmt.Errorf("%w: %q without its CR before the timeout", ErrShort, clip(d.line[:ln]))
			}
			return nil, fmt.Errorf("%w to %s within %s", ErrTimeout, cmd, d.opts.ReplyTimeout)
		}
		n, err := d.port.Read(d.buf[:])
		d.n = n
		if err != nil && !(errors.Is(err, io.EOF) && n == 0) {
			return nil, errIO(err)
		}
	}
}

// trimLine drops the LF and NUL bytes some adapters add around a CR-terminated line.
func trimLine(b []byte) []byte {
	for len(b) > 0 && (b[0] == '\n' || b[0] == 0) {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == 0) {
		b = b[:len(b)-1]
	}
	return b
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (d *Device) field(st *Status, bit uint8, v float64) (float64, error) {
	if st.Has&bit == 0 {
		return 0, d.errNoField[bitIndex(bit)]
	}
	return v, nil
}

func bitIndex(bit uint8) int {
	i := 0
	for bit > 1 {
		bit >>= 1
		i++
	}
	return i
}

// packVoltage turns the Q1 battery voltage into the whole pack's voltage. On-line units report volts per
// cell ("2.05"); no pack is below 3 V, so a smaller value is taken as per cell.
func (d *Device) packVoltage(st *Status) (float64, error) {
	v, err := d.field(st, HasBattery, st.BatteryVoltage)
	if err != nil || v >= 3 {
		return v, err
	}
	cells := float64(d.opts.BatteryCells)
	if cells == 0 && d.rating.BatteryVoltage >= 6 {
		cells = math.Round(d.rating.BatteryVoltage / 2) // lead-acid: 2 V nominal per cell
	}
	if cells == 0 {
		return 0, d.errPerCell
	}
	return v * cells, nil
}

// charge estimates the state of charge from the pack voltage, linearly between the empty and full
// voltages. It reads high while charging and low under heavy load; it is an estimate, as in NUT.
func (d *Device) charge(pack float64) (float64, error) {
	lo, hi := d.opts.BatteryVoltageLow, d.opts.BatteryVoltageHigh
	if hi == 0 {
		nom := d.rating.BatteryVoltage
		if nom < 6 {
			return 0, d.errNoRange
		}
		lo, hi = nom*10.4/12, nom*13.0/12
	}
	return math.Round(max(0, min(100, (pack-lo)/(hi-lo)*100))*10) / 10, nil
}

// runtime estimates the remaining runtime from the charge and the load, scaling the calibrated full-load
// runtime by (100/load)^k, where k is fitted to the half-load runtime (Peukert-like discharge).
func (d *Device) runtime(charge, load float64) float64 {
	full, half := d.opts.RuntimeFullLoad.D().Seconds(), d.opts.RuntimeHalfLoad.D().Seconds()
	k := math.Log2(half / full)
	load = max(load, 10) // below 10 % the fit is meaningless; do not promise days
	return math.Round(charge / 100 * full * math.Pow(100/load, k))
}

func (d *Device) samples(out []driver.Sample, st *Status) []driver.Sample {
	add := func(ch reading.Channel, v float64, err error) {
		out = append(out, driver.Sample{Channel: ch, Value: v, Err: err})
	}
	// The test bit first: an on-battery rule with `unless` sees it before the on_battery it explains.
	add(reading.SelfTest, b2f(st.Testing), nil)
	add(reading.OnBattery, b2f(st.UtilityFail), nil)
	add(reading.LowBattery, b2f(st.BatteryLow), nil)
	pack, perr := d.packVoltage(st)
	chg, cerr := 0.0, perr
	if perr == nil {
		chg, cerr = d.charge(pack)
	}
	add(reading.Charge, chg, cerr)
	load, lerr := d.field(st, HasLoad, st.Load)
	if d.opts.RuntimeFullLoad != 0 {
		err := cerr
		if err == nil {
			err = lerr
		}
		rt := 0.0
		if err == nil {
			rt = d.runtime(chg, load)
		}
		add(reading.Runtime, rt, err)
	}
	add(reading.BatteryVoltage, pack, perr)
	addField := func(ch reading.Channel, bit uint8, v float64) {
		v, err := d.field(st, bit, v)
		add(ch, v, err)
	}
	addField(reading.BatteryTemp, HasTemperature, st.Temperature)
	addField(reading.InputVoltage, HasInput, st.InputVoltage)
	addField(reading.OutputVoltage, HasOutput, st.OutputVoltage)
	add(reading.Load, load, lerr)
	add(reading.Overload, b2f(load > 100), lerr) // QQQ is % of rated output current
	add(reading.Fault, b2f(st.Failed), nil)
	return out
}

var _ driver.Poller = (*Device)(nil)
