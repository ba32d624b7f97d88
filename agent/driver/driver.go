package driver

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// Sensor is one configured sensor as its driver sees it.
type Sensor struct {
	ID string
	// Driver is the name of its driver.
	Driver string
	// Bus is the id of the bus it is on, or "".
	Bus string
	// Every is the polling interval (a heartbeat for event-driven drivers); Timeout bounds one read.
	Every, Timeout time.Duration
	Labels         map[string]string
	// Options are the keys that belong to the driver, decoded strictly and located by file and line.
	Options settings.Options
}

// Bus is one configured bus as its bus type sees it.
type Bus struct {
	ID, Type string
	// Options are the keys that belong to the bus type.
	Options settings.Options
}

// Sample is one channel's value from one read. A non-nil Err makes it a bad reading.
type Sample struct {
	Channel reading.Channel
	Value   float64
	Err     error
}

// ChannelInfo names a channel a sensor produces, its unit, its resolution and the names of its states.
type ChannelInfo struct {
	Channel reading.Channel
	Unit    string
	// Resolution is the step the channel's values are rounded to in MQTT payloads, /metrics and on every
	// display: what the device really resolves, as a decimal step (a BME280's temperature 0.01 °C, a
	// Modbus register with scale 0.1 0.1). 0 takes the unit's default (reading.DefaultResolution).
	Resolution float64
	// States names the values of a boolean or enumerated channel, shown instead of the number on human
	// displays (smoke: 1 "DETECTED"); nil for a measured quantity.
	States map[int64]string
}

// Format is how the channel's values are written (reading.Format), with the unit's default resolution
// when the driver declared none.
func (c *ChannelInfo) Format() reading.Format {
	f := reading.Format{Unit: c.Unit, Resolution: c.Resolution, States: c.States}
	if f.Resolution <= 0 {
		if f.States != nil {
			f.Resolution = 1
		} else {
			f.Resolution = reading.DefaultResolution(f.Unit)
		}
	}
	return f
}

// Channels is a convenience for building []ChannelInfo with the canonical units, the units' default
// resolutions and the state names of the well-known boolean channels.
func Channels(chs ...reading.Channel) []ChannelInfo {
	out := make([]ChannelInfo, len(chs))
	for i, ch := range chs {
		f := reading.CanonicalFormat(ch)
		out[i] = ChannelInfo{Channel: ch, Unit: f.Unit, Resolution: f.Resolution, States: f.States}
	}
	return out
}

// Channel is one channel with its canonical unit and the resolution the device has.
func Channel(ch reading.Channel, resolution float64) ChannelInfo {
	return ChannelInfo{Channel: ch, Unit: reading.Unit(ch), Resolution: resolution, States: reading.States(ch)}
}

// Boolean is a 0/1 channel: a contact, a bit, a coil. Its states are named (reading.BooleanStates).
func Boolean(ch reading.Channel) ChannelInfo {
	return ChannelInfo{Channel: ch, Resolution: 1, States: reading.BooleanStates(ch)}
}

// Device is an opened sensor. It is a Poller or a Streamer.
type Device interface {
	Close() error
}

// Poller is read by the scheduler at the sensor's interval, on its bus's goroutine.
type Poller interface {
	Device
	// Read samples the device once and appends one Sample per channel to out. An error marks every channel
	// of the sensor bad with that error; a per-channel problem goes in that Sample's Err instead. Read must
	// honour ctx: the scheduler cancels it at the sensor's timeout.
	Read(ctx context.Context, out []Sample) ([]Sample, error)
}

// Streamer pushes samples as they happen (a GPIO edge, a bridge board's frame) without waiting for a poll.
type Streamer interface {
	Device
	// Run delivers samples until ctx is done or the device fails. A returned error other than ctx's is
	// reported and Run is called again after a backoff; emit must not be retained after Run returns.
	Run(ctx context.Context, emit func(Sample)) error
}

// Env is what a driver gets when it is opened.
type Env struct {
	Sensor *Sensor
	// Bus is the opened bus (the value BusType.Open returned), or nil for sensors without one.
	Bus any
	Log *slog.Logger
}

// Logger is the sensor's logger, or one that discards when none was given (tests that open a device
// directly).
func (e Env) Logger() *slog.Logger {
	if e.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Log
}

// Driver describes one sensor driver.
type Driver struct {
	// Name is the value of `driver:` in the config.
	Name string
	// Buses lists the bus types the driver attaches to. Empty means it takes no bus.
	Buses []string
	// BusOptional allows a sensor without a bus even though Buses is set.
	BusOptional bool
	// Check decodes and validates the sensor's options without touching hardware and returns the channels
	// the sensor will produce. A nil slice means the channels are learned at run time (a bridge board).
	// Errors should be settings.Errors (use Sensor.Options.Decode and settings.Problems).
	Check func(s *Sensor) ([]ChannelInfo, error)
	// Open opens the device. Returning an error at start fails `run` for this sensor only; the scheduler
	// keeps retrying with backoff and publishes bad readings meanwhile.
	Open func(ctx context.Context, env Env) (Device, error)
}

// BusType describes a kind of bus (i2c, modbus-rtu, …).
type BusType struct {
	Name string
	// Check validates the bus's options without touching hardware.
	Check func(b *Bus) error
	// Open opens the bus. The value is handed to drivers in Env.Bus; Close is called at shutdown if it
	// implements io.Closer.
	Open func(ctx context.Context, b *Bus, log *slog.Logger) (any, error)
}

// Registry maps names to drivers, bus types and output types.
type Registry struct {
	drivers map[string]*Driver
	buses   map[string]*BusType
	outputs map[string]*OutputType
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{drivers: map[string]*Driver{}, buses: map[string]*BusType{}}
}

// Add registers a driver; a duplicate name is a programming error and panics.
func (r *Registry) Add(d Driver) {
	if _, dup := r.drivers[d.Name]; dup {
		panic(fmt.Sprintf("driver %q registered twice", d.Name))
	}
	r.drivers[d.Name] = &d
}

// AddBus registers a bus type; a duplicate name panics.
func (r *Registry) AddBus(b BusType) {
	if _, dup := r.buses[b.Name]; dup {
		panic(fmt.Sprintf("bus type %q registered twice", b.Name))
	}
	r.buses[b.Name] = &b
}

// Driver returns the named driver or nil.
func (r *Registry) Driver(name string) *Driver { return r.drivers[name] }

// Bus returns the named bus type or nil.
func (r *Registry) Bus(name string) *BusType { return r.buses[name] }

// DriverNames lists the registered drivers, sorted.
func (r *Registry) DriverNames() []string { return sortedKeys(r.drivers) }

// BusNames lists the registered bus types, sorted.
func (r *Registry) BusNames() []string { return sortedKeys(r.buses) }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Backoff returns the delay before retry n (0-based): doubling from base, capped at max. Drivers that
// reconnect on their own use it too, so every retry loop in the agent backs off the same way.
func Backoff(n int, base, max time.Duration) time.Duration {
	d := base
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// Counters is implemented by devices that count protocol problems (garbled frames, echoed commands,
// retries). The counts appear in /metrics as rackwatch_driver_events_total{sensor, kind}.
type Counters interface {
	Counters() map[string]uint64
}

// HostPort completes a network device's address with defaultPort when it names none ("10.0.0.30" becomes
// "10.0.0.30:161") and checks that the port is a valid TCP/UDP port. Drivers of networked devices (NUT,
// SNMP, Modbus TCP) share it so an installer can write addresses the same way everywhere.
func HostPort(addr, defaultPort string) (string, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(strings.Trim(addr, "[]"), defaultPort)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return "", fmt.Errorf("%q: expected host or host:port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return "", fmt.Errorf("%q: port %q is not a number from 1 to 65535", addr, port)
	}
	return addr, nil
}
