package fwbridge

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/tarm/serial"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// Channels the driver adds to whatever the board declares.
const (
	// ChannelLink is 1 while the board is connected, has completed the handshake and its frames keep
	// arriving, and 0 otherwise, so a rule can alarm on a lost board.
	ChannelLink reading.Channel = "link"
	// ChannelFailsafe is 1 while the board drives an output on its own because the host went silent.
	ChannelFailsafe reading.Channel = "failsafe"
)

// The names of the driver's own channels' states, for the status page and tail.
var (
	linkStates     = map[int64]string{0: "LOST", 1: "up"}
	failsafeStates = map[int64]string{0: "off", 1: "ACTIVE"}
)

// Options are the `bridge` sensor's keys in the config (docs/bridge.md describes each).
type Options struct {
	Device     string            `yaml:"device"`
	Baud       int               `yaml:"baud"`
	Heartbeat  settings.Duration `yaml:"heartbeat"`
	StaleAfter settings.Duration `yaml:"stale_after"`
	Channels   []string          `yaml:"channels"`
	Failsafe   []Failsafe        `yaml:"failsafe"`
}

// Failsafe is one board-side fail-safe: when the host has been silent for After and Input is above (or
// below) the threshold, the board drives Output on by itself.
type Failsafe struct {
	Input  string            `yaml:"input"`
	Above  *float64          `yaml:"above"`
	Below  *float64          `yaml:"below"`
	Output string            `yaml:"output"`
	After  settings.Duration `yaml:"after"`
	Line   int
}

// Defaults for the options.
const (
	DefaultBaud      = 115200
	DefaultHeartbeat = 2 * time.Second
	DefaultFSAfter   = 30 * time.Second
)

var bauds = map[int]bool{1200: true, 2400: true, 4800: true, 9600: true, 19200: true, 38400: true, 57600: true,
	115200: true, 230400: true, 460800: true, 921600: true}

// Register adds the `bridge` driver and the `bridge` output type to r. An output drives a board through
// the device of the sensor that owns its line.
func Register(r *driver.Registry) {
	hub := &boards{}
	r.AddOutput(outputType(hub))
	r.Add(driver.Driver{
		Name:  "bridge",
		Check: func(s *driver.Sensor) ([]driver.ChannelInfo, error) { _, chs, err := check(s); return chs, err },
		Open: func(ctx context.Context, env driver.Env) (driver.Device, error) {
			o, _, err := check(env.Sensor)
			if err != nil {
				return nil, err
			}
			log := env.Logger()
			d := New(env.Sensor.ID, o, env.Sensor.Every, SerialOpener, log)
			hub.put(env.Sensor.ID, d)
			return d, nil
		},
	})
}

// check decodes and validates a sensor's options. It returns the declared channels, or nil when the
// channels are to be learned from the board.
func check(s *driver.Sensor) (*Options, []driver.ChannelInfo, error) {
	o := &Options{Baud: DefaultBaud, Heartbeat: settings.Duration(DefaultHeartbeat)}
	if err := s.Options.Decode(o); err != nil {
		return nil, nil, err
	}
	o.applyDefaults()
	probs := settings.NewProblems(s.Options)
	add := probs.Add
	switch {
	case o.Device == "":
		add("device", "sensor %q: device is required (e.g. /dev/ttyACM0 or a /dev/serial/by-id/ link)", s.ID)
	case o.Device[0] != '/':
		add("device", "sensor %q: device %q must be an absolute path such as /dev/ttyACM0", s.ID, o.Device)
	}
	if !bauds[o.Baud] {
		add("baud", "sensor %q: baud %d is not a standard rate (use 9600, 19200, 38400, 57600, 115200, …)", s.ID, o.Baud)
	}
	if hb := o.Heartbeat.D(); hb < 100*time.Millisecond || hb > time.Minute {
		add("heartbeat", "sensor %q: heartbeat %s must be between 100ms and 1m", s.ID, hb)
	}
	if s.Every < 100*time.Millisecond || s.Every > time.Hour {
		add("every", "sensor %q: every %s: a board reports between every 100ms and every 1h", s.ID, s.Every)
	}
	if o.StaleAfter.D() <= o.Heartbeat.D() {
		add("stale_after", "sensor %q: stale_after %s must be longer than heartbeat %s", s.ID, o.StaleAfter, o.Heartbeat)
	}
	seen := map[string]bool{}
	for _, ch := range o.Channels {
		switch {
		case !validChannel(ch):
			add("channels", "sensor %q: channel %q: use only a-z, 0-9 and '_'", s.ID, ch)
		case ch == string(ChannelLink) || ch == string(ChannelFailsafe):
			add("channels", "sensor %q: channel %q is added by the driver; do not list it", s.ID, ch)
		case seen[ch]:
			add("channels", "sensor %q: channel %q listed twice", s.ID, ch)
		}
		seen[ch] = true
	}
	for i := range o.Failsafe {
		fs := &o.Failsafe[i]
		at := func(format string, args ...any) {
			probs.AddAt(fs.Line, "sensor %q: failsafe: %s", s.ID, fmt.Sprintf(format, args...))
		}
		if fs.Input == "" || fs.Output == "" {
			at("input and output are required")
		}
		if (fs.Above == nil) == (fs.Below == nil) {
			at("give exactly one of above or below")
		}
		if fs.After.D() < time.Second || fs.After.D() > 24*time.Hour {
			at("after %s must be between 1s and 24h", fs.After)
		}
		if len(o.Channels) > 0 {
			for _, ch := range []string{fs.Input, fs.Output} {
				if ch != "" && !seen[ch] {
					at("channel %q is not in channels", ch)
				}
			}
		}
	}
	if err := probs.Err(); err != nil {
		return nil, nil, err
	}
	if len(o.Channels) == 0 {
		return o, nil, nil
	}
	chs := make([]reading.Channel, 0, len(o.Channels))
	for _, ch := range o.Channels {
		chs = append(chs, reading.Channel(ch))
	}
	infos := append(driver.Channels(chs...), driver.ChannelInfo{Channel: ChannelLink, Resolution: 1, States: linkStates})
	if len(o.Failsafe) > 0 {
		infos = append(infos, driver.ChannelInfo{Channel: ChannelFailsafe, Resolution: 1, States: failsafeStates})
	}
	return o, infos, nil
}

func (o *Options) applyDefaults() {
	if o.StaleAfter == 0 {
		o.StaleAfter = 3 * o.Heartbeat
	}
	// A copy, so defaults never write into the caller's (or the config's) slice.
	o.Failsafe = append([]Failsafe(nil), o.Failsafe...)
	for i := range o.Failsafe {
		if o.Failsafe[i].After == 0 {
			o.Failsafe[i].After = settings.Duration(DefaultFSAfter)
		}
	}
}

func validChannel(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// Port is the serial line to a board: what the driver needs from github.com/tarm/serial, and what a test
// replaces with a pipe. Read may return (0, io.EOF) when no byte arrived within a short timeout; the driver
// then checks that the device is still there and reads again.
type Port = io.ReadWriteCloser

// Opener opens the named device at the given baud rate.
type Opener func(device string, baud int) (Port, error)

// readTimeout bounds one Read so the reader notices cancellation and unplugging without a byte arriving.
// VTIME has a 0.1 s resolution; a read returns as soon as any byte is there, so it adds no latency.
const readTimeout = 200 * time.Millisecond

// SerialOpener opens a tty with github.com/tarm/serial: raw mode, 8N1, no flow control.
func SerialOpener(device string, baud int) (Port, error) {
	p, err := serial.OpenPort(&serial.Config{Name: device, Baud: baud, ReadTimeout: readTimeout})
	if err != nil {
		return nil, err
	}
	return p, nil
}
