package fwbridge

import (
	"context"
	"fmt"
	"math"
	"sync"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// OutputName is the output type in the config.
const OutputName = "bridge"

// OutputOptions are the keys of a `bridge` output: an output channel (kind do) of a board that a `bridge`
// sensor (named by the output's `sensor:`) reads. The board's serial line belongs to that sensor; the
// output sends its OUT frame on it and waits for the board's ACK.
type OutputOptions struct {
	// Channel is the board's output channel, as it declares it (sounder, relay1, beacon).
	Channel string `yaml:"channel"`
	// On and Off are the values sent (default 1 and 0).
	On  *float64 `yaml:"on"`
	Off *float64 `yaml:"off"`
}

// boards hands the output side the running device of each bridge sensor: the device that owns the line.
type boards struct {
	mu   sync.Mutex
	byID map[string]*Device
}

func (b *boards) put(id string, d *Device) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.byID == nil {
		b.byID = map[string]*Device{}
	}
	b.byID[id] = d
}

func (b *boards) get(id string) *Device {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.byID[id]
}

type outSpec struct {
	ch      reading.Channel
	on, off float64
}

func parseOutput(o *driver.Output) (outSpec, error) {
	var opt OutputOptions
	if err := o.Options.Decode(&opt); err != nil {
		return outSpec{}, err
	}
	p := settings.NewProblems(o.Options)
	s := outSpec{ch: reading.Channel(opt.Channel), on: 1, off: 0}
	switch {
	case opt.Channel == "":
		p.Add("channel", "output %q: channel is required: the board's output channel (kind do), e.g. sounder", o.ID)
	case !validChannel(opt.Channel):
		p.Add("channel", "output %q: channel %q: use only a-z, 0-9 and '_' (as the board declares it)", o.ID, opt.Channel)
	}
	for _, v := range []struct {
		key string
		v   *float64
		dst *float64
	}{{"on", opt.On, &s.on}, {"off", opt.Off, &s.off}} {
		if v.v == nil {
			continue
		}
		if math.IsNaN(*v.v) || math.IsInf(*v.v, 0) || math.Abs(*v.v) > 1e9 {
			p.Add(v.key, "output %q: %s %v is not a value a board takes", o.ID, v.key, *v.v)
		}
		*v.dst = *v.v
	}
	if o.Sensor == "" {
		p.AddAt(o.Options.Line(), "output %q: sensor is required: the bridge sensor whose board has the output", o.ID)
	}
	return s, p.Err()
}

func outputType(hub *boards) driver.OutputType {
	return driver.OutputType{
		Name:    OutputName,
		Sensors: []string{"bridge"},
		Check: func(o *driver.Output) (driver.OutputInfo, error) {
			s, err := parseOutput(o)
			if err != nil {
				return driver.OutputInfo{}, err
			}
			return driver.OutputInfo{Describe: fmt.Sprintf("channel %s of the board on sensor %s: on %g, off %g", s.ch, o.Sensor, s.on, s.off)}, nil
		},
		Open: func(ctx context.Context, env driver.OutputEnv) (driver.Actuator, error) {
			s, err := parseOutput(env.Output)
			if err != nil {
				return nil, err
			}
			return &Output{s: s, sensor: env.Output.Sensor, hub: hub}, nil
		},
	}
}

// Output is an opened bridge output.
type Output struct {
	s      outSpec
	sensor string
	hub    *boards
}

// Set implements driver.Actuator: OUT on the board's line, then the board's ACK.
func (o *Output) Set(ctx context.Context, on bool, _ driver.Cause) (string, error) {
	d := o.hub.get(o.sensor)
	if d == nil {
		return "", fmt.Errorf("fwbridge: the board of sensor %s is not open (yet)", o.sensor)
	}
	v := o.s.off
	if on {
		v = o.s.on
	}
	if err := d.SetOutput(ctx, o.s.ch, v); err != nil {
		return "", err
	}
	st := d.Stats()
	return fmt.Sprintf("board %q %s = %g, acknowledged", st.BoardID, o.s.ch, v), nil
}

// Close implements driver.Actuator. The line belongs to the sensor.
func (o *Output) Close() error { return nil }
