package agent

import (
	"fmt"
	"strings"

	"github.com/rackwatch/rackwatch/agent/actions"
	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/outputs"
	"github.com/rackwatch/rackwatch/agent/settings"
	"github.com/rackwatch/rackwatch/agent/shutdown"
)

// checkOutputs checks each output against its output type, as Check does sensors against their drivers:
// the type exists, takes the bus or sensor named, and accepts its options. It fills plan.Outputs.
func (p *Plan) checkOutputs(reg *driver.Registry, errs *settings.Errors) {
	cfg := p.Config
	add := func(line int, format string, args ...any) { errs.Add(cfg.File, line, format, args...) }
	for i := range cfg.Outputs {
		o := &cfg.Outputs[i]
		if o.Type == "" {
			continue // config already said so
		}
		ty := reg.OutputType(o.Type)
		if ty == nil {
			add(o.Line, "output %q: unknown type %q (known: %s)", o.ID, o.Type, strings.Join(reg.OutputNames(), ", "))
			continue
		}
		spec := outputs.Spec{Output: o.DriverOutput(cfg.File), Type: ty, Role: o.Role, Timeout: o.Timeout.D()}
		switch {
		case len(ty.Buses) > 0 && o.Bus == "":
			add(o.Line, "output %q: type %s needs bus: a bus of type %s", o.ID, ty.Name, strings.Join(ty.Buses, " or "))
		case len(ty.Buses) == 0 && o.Bus != "":
			add(o.Line, "output %q: type %s takes no bus", o.ID, ty.Name)
		case o.Bus != "":
			if b := cfg.BusByID(o.Bus); b != nil {
				if !contains(ty.Buses, b.Type) {
					add(o.Line, "output %q: type %s cannot write on bus %q of type %s (needs %s)", o.ID, ty.Name, b.ID, b.Type, strings.Join(ty.Buses, " or "))
				}
				spec.Bus = b.DriverBus(cfg.File)
			}
		}
		switch {
		case len(ty.Sensors) > 0 && o.Sensor == "":
			add(o.Line, "output %q: type %s needs sensor: the %s sensor whose device has the output", o.ID, ty.Name, strings.Join(ty.Sensors, " or "))
		case len(ty.Sensors) == 0 && o.Sensor != "":
			add(o.Line, "output %q: type %s takes no sensor", o.ID, ty.Name)
		case o.Sensor != "":
			if s := cfg.Sensor(o.Sensor); s != nil && !contains(ty.Sensors, s.Driver) {
				add(o.Line, "output %q: sensor %q is a %s sensor; type %s drives %s sensors", o.ID, s.ID, s.Driver, ty.Name, strings.Join(ty.Sensors, " or "))
			}
		}
		if ty.Check != nil {
			info, err := ty.Check(spec.Output)
			if err != nil {
				*errs = append(*errs, settings.AsErrors(err, cfg.File, o.Line)...)
				continue
			}
			spec.Info = info
		}
		p.Outputs = append(p.Outputs, spec)
	}
}

// ActionSpecs turns the config's actions into the actions engine's specs and outputs.
func ActionSpecs(cfg *config.Config) ([]actions.Spec, []actions.Output) {
	specs := make([]actions.Spec, len(cfg.Actions.List))
	for i, a := range cfg.Actions.List {
		specs[i] = actions.Spec{Rule: a.When.Rule, Severity: a.When.Severity, Sensor: a.When.Sensor, Do: a.Do,
			UntilAck: a.Until == config.UntilAck, MinOn: a.MinOn.D()}
	}
	outs := make([]actions.Output, len(cfg.Outputs))
	for i, o := range cfg.Outputs {
		outs[i] = actions.Output{ID: o.ID, Sounder: o.Role == config.RoleSounder}
	}
	return specs, outs
}

// ShutdownConfig is the config's shutdown section for the shutdown package, or nil.
func ShutdownConfig(cfg *config.Config) *shutdown.Config {
	s := cfg.Shutdown
	if s == nil {
		return nil
	}
	return &shutdown.Config{When: s.When, OnBattery: s.OnBattery, Delay: s.Delay.D(), Flush: s.Flush.D(),
		Timeout: s.Timeout.D(), Command: s.Command}
}

// DescribeActions says what the outputs, actions and shutdown of a checked plan would do, one line each,
// for `rackwatch check`.
func (p *Plan) DescribeActions() []string {
	cfg := p.Config
	var out []string
	for _, o := range p.Outputs {
		role := ""
		if o.Role != "" {
			role = " [" + o.Role + "]"
		}
		line := fmt.Sprintf("output %s (%s)%s: %s", o.Output.ID, o.Output.Type, role, o.Info.Describe)
		if o.Info.OneShot {
			line += "; one-shot: off does nothing"
		}
		out = append(out, line)
	}
	for _, a := range cfg.Actions.List {
		var when []string
		if a.When.Rule != "" {
			when = append(when, "rule "+a.When.Rule)
		}
		if a.When.Severity != "" {
			when = append(when, "any "+a.When.Severity+" alarm")
		}
		if a.When.Sensor != "" {
			when = append(when, "sensor "+a.When.Sensor)
		}
		hold := "while the alarm is active"
		if a.Until == config.UntilAck {
			hold = "from the raise until it is acknowledged"
		}
		line := fmt.Sprintf("action: %s → %s on %s", strings.Join(when, ", "), strings.Join(a.Do, ", "), hold)
		if a.MinOn > 0 {
			line += fmt.Sprintf(", at least %s", a.MinOn)
		}
		var sounders []string
		for _, id := range a.Do {
			if o := cfg.OutputByID(id); o != nil && o.Role == config.RoleSounder {
				sounders = append(sounders, id)
			}
		}
		if len(sounders) > 0 {
			line += "; an acknowledgement silences " + strings.Join(sounders, ", ")
		}
		out = append(out, line)
	}
	if cfg.Actions.DryRun && len(cfg.Actions.List) > 0 {
		out = append(out, "actions: dry run: every action is logged and published, no output is touched")
	}
	if sc := ShutdownConfig(cfg); sc != nil {
		out = append(out, "shutdown: "+shutdown.Describe(*sc))
	}
	return out
}
