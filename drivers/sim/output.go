package sim

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// OutputOptions are the keys of a `sim` output: a simulated relay, coil or command, for demos and for
// trying actions without hardware.
type OutputOptions struct {
	// What names the simulated device in events: "BMS charge enable", "battery room fan".
	What string `yaml:"what"`
	// Delay is how long switching takes (a relay's travel, a Modbus round trip).
	Delay settings.Duration `yaml:"delay"`
	// Fail makes switching fail: error (at once) or hang (until the output's timeout).
	Fail string `yaml:"fail"`
}

func decodeOutput(o *driver.Output) (*OutputOptions, error) {
	opt := &OutputOptions{What: "simulated " + o.ID}
	if err := o.Options.Decode(opt); err != nil {
		return nil, err
	}
	p := settings.NewProblems(o.Options)
	switch opt.Fail {
	case "", "error", "hang":
	default:
		p.Add("fail", "output %q: fail %q: use error or hang", o.ID, opt.Fail)
	}
	if opt.Delay < 0 || opt.Delay.D() > time.Minute {
		p.Add("delay", "output %q: delay %s: use 0 to 1m", o.ID, opt.Delay)
	}
	return opt, p.Err()
}

// OutputType is the `sim` output type.
func OutputType() driver.OutputType {
	return driver.OutputType{
		Name: "sim",
		Check: func(o *driver.Output) (driver.OutputInfo, error) {
			opt, err := decodeOutput(o)
			if err != nil {
				return driver.OutputInfo{}, err
			}
			return driver.OutputInfo{Describe: opt.What + " (simulated)"}, nil
		},
		Open: func(ctx context.Context, env driver.OutputEnv) (driver.Actuator, error) {
			opt, err := decodeOutput(env.Output)
			if err != nil {
				return nil, err
			}
			return &SimOutput{opt: *opt}, nil
		},
	}
}

// SimOutput is an opened simulated output. Its state can be read back, as a real device's can.
type SimOutput struct {
	opt OutputOptions
	mu  sync.Mutex
	on  bool
}

// ErrSimulatedOutput is the error of a simulated output fault.
var ErrSimulatedOutput = errors.New("sim: simulated output fault")

// Set implements driver.Actuator.
func (s *SimOutput) Set(ctx context.Context, on bool, _ driver.Cause) (string, error) {
	switch s.opt.Fail {
	case "error":
		return "", ErrSimulatedOutput
	case "hang":
		<-ctx.Done()
		return "", ctx.Err()
	}
	if d := s.opt.Delay.D(); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return "", ctx.Err()
		}
	}
	s.mu.Lock()
	s.on = on
	s.mu.Unlock()
	return fmt.Sprintf("%s %s, read back %s", s.opt.What, onOff(on), onOff(s.On())), nil
}

// On reports the simulated device's state.
func (s *SimOutput) On() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.on
}

// Close implements driver.Actuator.
func (s *SimOutput) Close() error { return nil }

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}
