package gpio

import (
	"context"
	"fmt"
	"sync"

	pgpio "periph.io/x/conn/v3/gpio"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// OutputName is the output type in the config.
const OutputName = "gpio"

// OutputOptions are the keys of a `gpio` output: a relay, a sounder or a beacon driven by a GPIO line.
type OutputOptions struct {
	// Pin is the line name (GPIO22) or a BCM number (22).
	Pin string `yaml:"pin"`
	// Active is the level that energizes the relay or the device: high (the default) or low (the many
	// relay boards whose inputs are "low-level trigger").
	Active string `yaml:"active"`
	// Energized says when the relay is energized: active (the default: while the output is on) or normal
	// (while it is off: fail-safe, so that a dead or unplugged gateway, whose line no longer drives the
	// relay, looks like "on" to whatever is wired to the contact, as fire panels wire their supervision).
	Energized string `yaml:"energized"`
}

type outParsed struct {
	pin       string
	activeLow bool
	failSafe  bool
}

func parseOutput(o *driver.Output) (outParsed, error) {
	opt := OutputOptions{Active: "high", Energized: "active"}
	if err := o.Options.Decode(&opt); err != nil {
		return outParsed{}, err
	}
	p := settings.NewProblems(o.Options)
	if opt.Pin == "" {
		p.Add("pin", "output %q: pin is required (e.g. pin: GPIO22)", o.ID)
	}
	var op outParsed
	op.pin = opt.Pin
	switch opt.Active {
	case "high":
	case "low":
		op.activeLow = true
	default:
		p.Add("active", "output %q: active must be high or low (the level that energizes the relay), not %q", o.ID, opt.Active)
	}
	switch opt.Energized {
	case "active":
	case "normal":
		op.failSafe = true
	default:
		p.Add("energized", "output %q: energized must be active (while on) or normal (while off: fail-safe), not %q", o.ID, opt.Energized)
	}
	return op, p.Err()
}

// level is the line level for the output's state.
func (p outParsed) level(on bool) pgpio.Level {
	energize := on != p.failSafe
	return pgpio.Level(energize != p.activeLow)
}

func (p outParsed) describe() string {
	act := "high"
	if p.activeLow {
		act = "low"
	}
	if p.failSafe {
		return fmt.Sprintf("%s (%s energizes), energized while normal, released when on (fail-safe: a dead gateway reads as on)", p.pin, act)
	}
	return fmt.Sprintf("%s (%s energizes), energized while on", p.pin, act)
}

// OutputType is the `gpio` output type, looking lines up with find.
func OutputType(find Finder) driver.OutputType {
	return driver.OutputType{
		Name: OutputName,
		Check: func(o *driver.Output) (driver.OutputInfo, error) {
			p, err := parseOutput(o)
			if err != nil {
				return driver.OutputInfo{}, err
			}
			return driver.OutputInfo{Describe: p.describe()}, nil
		},
		Open: func(ctx context.Context, env driver.OutputEnv) (driver.Actuator, error) {
			p, err := parseOutput(env.Output)
			if err != nil {
				return nil, err
			}
			pin := find(p.pin)
			if pin == nil {
				return nil, fmt.Errorf("gpio: output %s: no GPIO line named %q (see `gpioinfo`; on a Pi use GPIO22 or 22)", env.Output.ID, p.pin)
			}
			// Off first: a gateway that starts (or restarts) must not pulse the relay.
			if err := pin.Out(p.level(false)); err != nil {
				return nil, fmt.Errorf("gpio: output %s: pin %s: %w (is the user in group gpio? is another program using the line?)", env.Output.ID, p.pin, err)
			}
			return &Output{pin: pin, p: p, id: env.Output.ID}, nil
		},
	}
}

// Output is an opened gpio output.
type Output struct {
	mu  sync.Mutex
	pin pgpio.PinIO
	p   outParsed
	id  string
}

func levelName(l pgpio.Level) string {
	if l {
		return "high"
	}
	return "low"
}

// Set implements driver.Actuator: it drives the line and reads it back.
func (o *Output) Set(_ context.Context, on bool, _ driver.Cause) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	want := o.p.level(on)
	if err := o.pin.Out(want); err != nil {
		return "", fmt.Errorf("gpio: output %s: pin %s: %w", o.id, o.p.pin, err)
	}
	energized := "released"
	if on != o.p.failSafe {
		energized = "energized"
	}
	got := o.pin.Read()
	detail := fmt.Sprintf("%s %s (relay %s), read back %s", o.p.pin, levelName(want), energized, levelName(got))
	if got != want {
		return detail, fmt.Errorf("gpio: output %s: pin %s driven %s but reads %s: is something else driving the line?", o.id, o.p.pin, levelName(want), levelName(got))
	}
	return detail, nil
}

// Close releases the line.
func (o *Output) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	err := o.pin.Halt()
	if c, ok := o.pin.(interface{ Close() }); ok {
		c.Close()
	}
	return err
}

var _ driver.Actuator = (*Output)(nil)
