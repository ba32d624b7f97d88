package driver

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/rackwatch/rackwatch/agent/settings"
)

// Output is one configured output (a relay, a sounder, a Modbus write, a NUT instant command, an exec
// hook) as its output type sees it.
type Output struct {
	ID string
	// Type is the value of `type:` in the config.
	Type string
	// Bus is the id of the bus it writes on (a Modbus output), or "".
	Bus string
	// Sensor is the id of the sensor whose device it drives (a bridge board's output), or "".
	Sensor string
	// Options are the keys that belong to the output type.
	Options settings.Options
}

// OutputInfo is what an output type says about a configured output when it checks it.
type OutputInfo struct {
	// Describe says in a few words what switching it does, for `rackwatch check` and the status page:
	// "GPIO22, relay energized while normal (fail-safe)", "coil 4609 on unit 1 of bus bms: on 0, off 1".
	Describe string
	// OneShot is true when the output has no "off" (a NUT instant command or a hook with only an on
	// command): switching it off does nothing, and an output test refuses it, because a test must not fire
	// a command it cannot take back.
	OneShot bool
}

// Cause is the alarm transition (or the test, or the shutdown) that made the agent drive an output. Exec
// hooks put it in their environment; other outputs ignore it.
type Cause struct {
	// By is "rules", "shutdown" or "test:<who>".
	By                                      string
	Gateway, Site                           string
	Alarm, Rule, Sensor, Channel, Severity  string
	AlarmState, Event, Message, Value, Unit string
	Seq, Episode                            uint64
	Time                                    time.Time
}

// Actuator is an opened output.
type Actuator interface {
	// Set drives the output on or off and returns once the device confirmed it, where it can (a read-back,
	// an ACK, an OK). detail says what the device did, for the action event: "GPIO22 high, read back
	// high". Set must honour ctx; the agent cancels it at the output's timeout. The agent never calls Set
	// on one output from two goroutines at once.
	Set(ctx context.Context, on bool, c Cause) (detail string, err error)
	// Close releases the device. A GPIO line is released (a fail-safe relay then drops, as on a dead
	// gateway).
	Close() error
}

// OutputEnv is what an output type gets when an output is opened.
type OutputEnv struct {
	Output *Output
	// Bus is the configured bus the output names, or nil.
	Bus *Bus
	Log *slog.Logger
}

// Logger is the output's logger, or one that discards.
func (e OutputEnv) Logger() *slog.Logger {
	if e.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Log
}

// OutputType describes one kind of output.
type OutputType struct {
	// Name is the value of `type:` in the config.
	Name string
	// Buses lists the bus types the output writes on (`bus:` required); empty means it takes no bus.
	Buses []string
	// Sensors lists the drivers whose sensors it can drive (`sensor:` required); empty means none.
	Sensors []string
	// Check decodes and validates the output's options without touching hardware. Errors should be
	// settings.Errors.
	Check func(o *Output) (OutputInfo, error)
	// Open opens the output and puts it in its off state where the device has one that can be set without
	// a side effect (a GPIO line: the off level). An error is retried with backoff by the agent.
	Open func(ctx context.Context, env OutputEnv) (Actuator, error)
}

// AddOutput registers an output type; a duplicate name panics.
func (r *Registry) AddOutput(t OutputType) {
	if r.outputs == nil {
		r.outputs = map[string]*OutputType{}
	}
	if _, dup := r.outputs[t.Name]; dup {
		panic(fmt.Sprintf("output type %q registered twice", t.Name))
	}
	r.outputs[t.Name] = &t
}

// OutputType returns the named output type or nil.
func (r *Registry) OutputType(name string) *OutputType { return r.outputs[name] }

// OutputNames lists the registered output types, sorted.
func (r *Registry) OutputNames() []string { return sortedKeys(r.outputs) }
