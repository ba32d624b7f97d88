package config

import (
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// Output is one thing the gateway can switch: a GPIO relay, sounder or beacon, a bridge board's output, a
// Modbus coil or register, a NUT instant command, an exec hook. Keys other than the common ones belong to
// its type.
type Output struct {
	ID   string `yaml:"id"`
	Type string `yaml:"type"`
	// Role is sounder (an acknowledgement silences it), beacon (it stays on until its action ends) or empty.
	Role string `yaml:"role"`
	// Bus names the bus a Modbus output writes on; Sensor the sensor (a bridge board) whose output it is.
	Bus    string `yaml:"bus"`
	Sensor string `yaml:"sensor"`
	// Timeout bounds one switching of the output (default 10s).
	Timeout settings.Duration `yaml:"timeout"`
	Options settings.Options  `yaml:",rest"`
	Line    int
}

// Output roles.
const (
	RoleSounder = "sounder"
	RoleBeacon  = "beacon"
)

// DefaultOutputTimeout bounds one switching of an output when the config says nothing.
const DefaultOutputTimeout = 10 * time.Second

// Actions maps alarms to outputs. In the config it is either the list itself or a mapping with dry_run
// and the list:
//
//	actions:
//	  - {when: {rule: pre-runaway}, do: [stop-charge, vent-fan]}
//
//	actions:
//	  dry_run: true
//	  list:
//	    - {when: {rule: pre-runaway}, do: [stop-charge, vent-fan]}
type Actions struct {
	// DryRun logs and publishes what would be done without touching any output.
	DryRun bool     `yaml:"dry_run"`
	List   []Action `yaml:"list"`
	Line   int
}

// Action switches outputs on while alarms that match When hold them.
type Action struct {
	When  ActionWhen `yaml:"when"`
	Do    []string   `yaml:"do"`
	Until string     `yaml:"until"`
	// MinOn keeps an output on at least this long once the action switched it on (a fan that should not
	// stop after ten seconds).
	MinOn settings.Duration `yaml:"min_on"`
	Line  int
}

// ActionWhen selects the alarms of an action. Every key given must match.
type ActionWhen struct {
	Rule     string `yaml:"rule"`
	Severity string `yaml:"severity"`
	// Sensor is a glob on the alarm's sensor id.
	Sensor string `yaml:"sensor"`
	// State is the alarm state that holds the outputs: active (the only one, and the default).
	State string `yaml:"state"`
	Line  int
}

// Until values.
const (
	UntilClear = "clear"
	UntilAck   = "ack"
)

// Shutdown is the ordered shutdown, as NUT's upsmon does it: when one of When's rules is active (while
// one of OnBattery's is, if given), wait Delay; if power returns meanwhile, cancel; else push the journal
// to every broker (at most Flush), then run Command.
type Shutdown struct {
	When      []string          `yaml:"when"`
	OnBattery []string          `yaml:"on_battery"`
	Delay     settings.Duration `yaml:"delay"`
	Flush     settings.Duration `yaml:"flush"`
	Command   []string          `yaml:"command"`
	Timeout   settings.Duration `yaml:"timeout"`
	Line      int
}

// Shutdown defaults.
const (
	DefaultShutdownFlush   = 10 * time.Second
	DefaultShutdownTimeout = 2 * time.Minute
	maxShutdownDelay       = time.Hour
)

var actionsType = reflect.TypeFor[Actions]()

// decodeActions reads `actions:` in either of its forms: a list, or a mapping with dry_run and list.
func (c *collector) decodeActions(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.SequenceNode || isNull(n) {
		a := v.Addr().Interface().(*Actions)
		a.Line = n.Line
		c.decode(n, reflect.ValueOf(&a.List).Elem(), path)
		return
	}
	c.decodeStruct(n, v, path)
}

func (cfg *Config) applyActionDefaults() {
	for i := range cfg.Outputs {
		if cfg.Outputs[i].Timeout == 0 {
			cfg.Outputs[i].Timeout = settings.Duration(DefaultOutputTimeout)
		}
	}
	for i := range cfg.Actions.List {
		a := &cfg.Actions.List[i]
		if a.Until == "" {
			a.Until = UntilClear
		}
		if a.When.State == "" {
			a.When.State = "active"
		}
	}
	if s := cfg.Shutdown; s != nil {
		if s.Flush == 0 {
			s.Flush = settings.Duration(DefaultShutdownFlush)
		}
		if s.Timeout == 0 {
			s.Timeout = settings.Duration(DefaultShutdownTimeout)
		}
	}
}

func (cfg *Config) validateActions(c *collector) {
	rules := map[string]bool{}
	internal := map[string]bool{}
	for i := range cfg.Rules {
		rules[cfg.Rules[i].ID] = true
		internal[cfg.Rules[i].ID] = cfg.Rules[i].Internal
	}
	ruleRef := func(line int, where, id string) {
		switch {
		case !rules[id]:
			c.add(line, "%s: rule %q is not defined", where, id)
		case internal[id]:
			c.add(line, "%s: rule %q is internal (never raised); name the rule that uses it", where, id)
		}
	}

	outputs := map[string]int{}
	for i := range cfg.Outputs {
		o := &cfg.Outputs[i]
		switch {
		case o.ID == "":
			c.add(o.Line, "output: id is required")
		case !reading.ValidID(o.ID):
			c.add(o.Line, "output id %q: use only a-z, 0-9, '.', '_' and '-' (it is part of MQTT events)", o.ID)
		case o.ID == "shutdown":
			c.add(o.Line, "output id %q is reserved for the shutdown sequence's events", o.ID)
		}
		if prev, dup := outputs[o.ID]; dup {
			c.add(o.Line, "output id %q is defined twice (first on line %d)", o.ID, prev)
		}
		outputs[o.ID] = o.Line
		if o.Type == "" {
			c.add(o.Line, "output %q: type is required (gpio, bridge, modbus, nut, exec, sim)", o.ID)
		}
		switch o.Role {
		case "", RoleSounder, RoleBeacon:
		default:
			c.add(o.Line, "output %q: role %q: use sounder (silenced by an acknowledgement) or beacon", o.ID, o.Role)
		}
		if o.Bus != "" && cfg.BusByID(o.Bus) == nil {
			c.add(o.Line, "output %q: bus %q is not defined under buses", o.ID, o.Bus)
		}
		if o.Sensor != "" && cfg.Sensor(o.Sensor) == nil {
			c.add(o.Line, "output %q: sensor %q is not defined under sensors", o.ID, o.Sensor)
		}
		if o.Timeout < 0 || o.Timeout.D() > 5*time.Minute {
			c.add(o.Line, "output %q: timeout %s: use up to 5m", o.ID, o.Timeout)
		}
	}

	used := map[string]bool{}
	for i := range cfg.Actions.List {
		a := &cfg.Actions.List[i]
		w := &a.When
		line := a.Line
		if w.Line != 0 {
			line = w.Line
		}
		if w.Rule == "" && w.Severity == "" && w.Sensor == "" {
			c.add(line, "actions: when needs at least one of rule, severity or sensor")
		}
		if w.Rule != "" {
			ruleRef(line, "actions", w.Rule)
		}
		switch w.Severity {
		case "", "info", "warning", "critical":
		default:
			c.add(line, "actions: severity %q: use info, warning or critical", w.Severity)
		}
		if w.Sensor != "" {
			if _, err := path.Match(w.Sensor, ""); err != nil {
				c.add(line, "actions: sensor %q is not a valid glob", w.Sensor)
			}
		}
		if w.State != "active" {
			c.add(line, "actions: state %q: outputs follow active alarms (state: active); use until: ack to hold them until acknowledged", w.State)
		}
		if len(a.Do) == 0 {
			c.add(a.Line, "actions: do lists no output")
		}
		seen := map[string]bool{}
		for _, id := range a.Do {
			if _, ok := outputs[id]; !ok {
				c.add(a.Line, "actions: output %q is not defined under outputs", id)
			}
			if seen[id] {
				c.add(a.Line, "actions: output %q is listed twice", id)
			}
			seen[id] = true
			used[id] = true
		}
		switch a.Until {
		case UntilClear, UntilAck:
		default:
			c.add(a.Line, "actions: until %q: use clear (while the alarm is active) or ack (until it is acknowledged)", a.Until)
		}
		if a.MinOn < 0 || a.MinOn.D() > 24*time.Hour {
			c.add(a.Line, "actions: min_on %s: use 0 to 24h", a.MinOn)
		}
	}

	if s := cfg.Shutdown; s != nil {
		if len(s.When) == 0 {
			c.add(s.Line, "shutdown: when lists no rule (e.g. [ups-low-battery, ups-runtime-critical])")
		}
		for _, id := range s.When {
			ruleRef(s.Line, "shutdown.when", id)
		}
		for _, id := range s.OnBattery {
			ruleRef(s.Line, "shutdown.on_battery", id)
		}
		if s.Delay < 0 || s.Delay.D() > maxShutdownDelay {
			c.add(s.Line, "shutdown: delay %s: use 0 to %s", s.Delay, maxShutdownDelay)
		}
		if s.Flush.D() < time.Second || s.Flush.D() > 5*time.Minute {
			c.add(s.Line, "shutdown: flush %s: use 1s to 5m", s.Flush)
		}
		if s.Timeout.D() < time.Second || s.Timeout.D() > 30*time.Minute {
			c.add(s.Line, "shutdown: timeout %s: use 1s to 30m", s.Timeout)
		}
		switch {
		case len(s.Command) == 0:
			c.add(s.Line, "shutdown: command is required, as a list: [/usr/bin/systemctl, poweroff]")
		case !filepath.IsAbs(s.Command[0]):
			c.add(s.Line, "shutdown: command %q: give the program's absolute path (it runs without a shell or PATH)", s.Command[0])
		}
		for _, arg := range s.Command {
			if strings.ContainsRune(arg, 0) {
				c.add(s.Line, "shutdown: command arguments must not contain NUL")
			}
		}
	}
}

// DriverOutput is the output as its output type sees it.
func (o *Output) DriverOutput(file string) *driver.Output {
	opts := o.Options
	if opts == nil {
		opts = NoOptions(file, o.Line)
	}
	return &driver.Output{ID: o.ID, Type: o.Type, Bus: o.Bus, Sensor: o.Sensor, Options: opts}
}

// OutputByID returns the output with the given id, or nil.
func (cfg *Config) OutputByID(id string) *Output {
	for i := range cfg.Outputs {
		if cfg.Outputs[i].ID == id {
			return &cfg.Outputs[i]
		}
	}
	return nil
}
