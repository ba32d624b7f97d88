package gpio

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"periph.io/x/conn/v3/driver/driverreg"
	pgpio "periph.io/x/conn/v3/gpio"
	"periph.io/x/host/v3/gpioioctl"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// Name is the driver name in the config.
const Name = "gpio-input"

// Options are the sensor keys of a gpio-input.
type Options struct {
	// Pin is the line name (GPIO17 on a Raspberry Pi) or a BCM number (17).
	Pin string `yaml:"pin"`
	// Active is the level that means "alarm" (value 1): low (the default: a contact to ground with a pull-up)
	// or high.
	Active string `yaml:"active"`
	// Channel names what the contact means: smoke, leak, door, on_battery, ...
	Channel string `yaml:"channel"`
	// Debounce is the lock-out after an edge (default 50ms; 0 disables).
	Debounce settings.Duration `yaml:"debounce"`
	// Pull is the internal bias: up, down or none (default: up when active low, down when active high).
	Pull string `yaml:"pull"`
}

// DefaultDebounce is long enough for the bounce of relay and reed contacts (typically under 10 ms).
const DefaultDebounce = 50 * time.Millisecond

// maxWait bounds one WaitForEdge so that Run notices cancellation even on a pin whose Halt does not
// interrupt a wait.
const maxWait = 250 * time.Millisecond

// Finder returns the pin with the given name or nil.
type Finder func(name string) pgpio.PinIO

type parsed struct {
	pin       string
	activeLow bool
	ch        reading.Channel
	debounce  time.Duration
	pull      pgpio.Pull
	every     time.Duration
}

func parse(s *driver.Sensor) (parsed, error) {
	o := Options{Active: "low", Debounce: settings.Duration(DefaultDebounce)}
	if err := s.Options.Decode(&o); err != nil {
		return parsed{}, err
	}
	p := parsed{pin: o.Pin, ch: reading.Channel(o.Channel), debounce: o.Debounce.D(), every: s.Every}
	if o.Pin == "" {
		return p, settings.Errorf(s.Options, "pin", "sensor %q: pin is required (e.g. pin: GPIO17)", s.ID)
	}
	switch o.Active {
	case "low":
		p.activeLow = true
	case "high":
	default:
		return p, settings.Errorf(s.Options, "active", "sensor %q: active must be low or high, not %q", s.ID, o.Active)
	}
	if o.Channel == "" {
		return p, settings.Errorf(s.Options, "channel", "sensor %q: channel is required (what the contact means: smoke, leak, door, ...)", s.ID)
	}
	if !reading.ValidID(o.Channel) {
		return p, settings.Errorf(s.Options, "channel", "sensor %q: channel %q may only use a-z 0-9 . _ -", s.ID, o.Channel)
	}
	switch o.Pull {
	case "":
		p.pull = pgpio.PullDown
		if p.activeLow {
			p.pull = pgpio.PullUp
		}
	case "up":
		p.pull = pgpio.PullUp
	case "down":
		p.pull = pgpio.PullDown
	case "none", "float":
		p.pull = pgpio.Float
	default:
		return p, settings.Errorf(s.Options, "pull", "sensor %q: pull must be up, down or none, not %q", s.ID, o.Pull)
	}
	if p.debounce > 5*time.Second {
		return p, settings.Errorf(s.Options, "debounce", "sensor %q: debounce %s would hide real changes; contacts settle within milliseconds", s.ID, p.debounce)
	}
	if p.every <= 0 {
		p.every = 5 * time.Second // the config's default every
	}
	return p, nil
}

// Driver returns the gpio-input driver looking pins up with find.
func Driver(find Finder) driver.Driver {
	return driver.Driver{
		Name: Name,
		Check: func(s *driver.Sensor) ([]driver.ChannelInfo, error) {
			p, err := parse(s)
			if err != nil {
				return nil, err
			}
			return []driver.ChannelInfo{driver.Boolean(p.ch)}, nil
		},
		Open: func(ctx context.Context, env driver.Env) (driver.Device, error) {
			p, err := parse(env.Sensor)
			if err != nil {
				return nil, err
			}
			pin := find(p.pin)
			if pin == nil {
				return nil, fmt.Errorf("gpio: sensor %s: no GPIO line named %q (see `gpioinfo`; on a Pi use GPIO17 or 17)", env.Sensor.ID, p.pin)
			}
			in := &Input{pin: pin, p: p, sensor: env.Sensor.ID}
			if err := pin.In(p.pull, pgpio.BothEdges); err != nil {
				return nil, fmt.Errorf("gpio: sensor %s: pin %s: %w (is the user in group gpio?)", env.Sensor.ID, p.pin, err)
			}
			return in, nil
		},
	}
}

// Input is an opened gpio-input.
type Input struct {
	pin    pgpio.PinIO
	p      parsed
	sensor string
}

func (in *Input) value(l pgpio.Level) float64 {
	if l == pgpio.Level(!in.p.activeLow) {
		return 1
	}
	return 0
}

func (in *Input) read() float64 { return in.value(in.pin.Read()) }

// Run implements driver.Streamer.
func (in *Input) Run(ctx context.Context, emit func(driver.Sample)) error {
	// A real gpioioctl line's Halt interrupts WaitForEdge at once; maxWait covers pins where it does not.
	stop := context.AfterFunc(ctx, func() { _ = in.pin.Halt() })
	defer stop()
	last := in.read()
	emit(driver.Sample{Channel: in.p.ch, Value: last})
	lastEmit := time.Now()
	fastFails := 0
	for ctx.Err() == nil {
		wait := min(in.p.every-time.Since(lastEmit), maxWait)
		if wait <= 0 {
			last = in.read()
			emit(driver.Sample{Channel: in.p.ch, Value: last})
			lastEmit = time.Now()
			continue
		}
		t0 := time.Now()
		if !in.pin.WaitForEdge(wait) {
			// A wait that fails at once, again and again, is a line that broke (fd closed, chip gone):
			// return so the agent reports it and reopens the pin with backoff instead of spinning.
			if ctx.Err() == nil && time.Since(t0) < wait/2 {
				if fastFails++; fastFails >= 20 {
					return fmt.Errorf("gpio: sensor %s: pin %s: waiting for an edge fails at once; the line is unusable", in.sensor, in.p.pin)
				}
			} else {
				fastFails = 0
			}
			continue
		}
		fastFails = 0
		if v := in.read(); v != last {
			last = v
			emit(driver.Sample{Channel: in.p.ch, Value: v})
			lastEmit = time.Now()
		}
		if in.p.debounce <= 0 {
			continue
		}
		// Lock-out: swallow the bounce, then settle on the level the contact came to rest at.
		end := time.Now().Add(in.p.debounce)
		for d := time.Until(end); d > 0 && ctx.Err() == nil; d = time.Until(end) {
			w := min(d, maxWait)
			if t := time.Now(); !in.pin.WaitForEdge(w) && time.Since(t) < w/2 {
				time.Sleep(min(d, 5*time.Millisecond)) // a failing line must not spin here either
			}
		}
		if ctx.Err() != nil {
			break
		}
		if v := in.read(); v != last {
			last = v
			emit(driver.Sample{Channel: in.p.ch, Value: v})
			lastEmit = time.Now()
		}
	}
	return nil
}

// Close releases the line.
func (in *Input) Close() error {
	err := in.pin.Halt()
	if c, ok := in.pin.(interface{ Close() }); ok {
		c.Close()
	}
	return err
}

var _ driver.Streamer = (*Input)(nil)

var initGPIO = sync.OnceValue(func() error {
	_, err := driverreg.Init()
	if err == nil && len(gpioioctl.Chips) == 0 {
		err = errors.New("no GPIO chips (/dev/gpiochip*) found")
	}
	return err
})

// FindLine looks name up on the system's GPIO chips: a line name (GPIO17) or a number (17), which on a
// Raspberry Pi is the BCM GPIO number on the first (pinctrl) chip.
func FindLine(name string) pgpio.PinIO {
	if initGPIO() != nil {
		return nil
	}
	for _, c := range gpioioctl.Chips {
		if l := c.ByName(name); l != nil {
			return l
		}
	}
	if n, err := strconv.Atoi(strings.TrimPrefix(strings.ToUpper(name), "GPIO")); err == nil {
		for _, c := range gpioioctl.Chips {
			if l := c.ByName("GPIO" + strconv.Itoa(n)); l != nil {
				return l
			}
		}
		if l := gpioioctl.Chips[0].ByNumber(n); l != nil {
			return l
		}
	}
	return nil
}

// Register adds the gpio-input driver and the gpio output type.
func Register(r *driver.Registry) {
	r.Add(Driver(FindLine))
	r.AddOutput(OutputType(FindLine))
}
