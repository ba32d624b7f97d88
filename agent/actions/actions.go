package actions

import (
	"path"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
)

// Spec is one action: while an alarm it selects holds, its outputs are on.
type Spec struct {
	// Rule, Severity and Sensor (a glob) select alarms; empty keys select any.
	Rule, Severity, Sensor string
	// Do lists the outputs.
	Do []string
	// UntilAck holds the outputs from the raise until the alarm is acknowledged, even if it clears first;
	// otherwise they are held while the alarm is active.
	UntilAck bool
	// MinOn keeps an output on at least this long once this action switched it on.
	MinOn time.Duration
}

// Output is an output actions can drive.
type Output struct {
	ID string
	// Sounder outputs are silenced by an acknowledgement of the alarms that sound them, whatever the
	// action's until and min_on say; other outputs (beacons, relays) stay on.
	Sounder bool
}

// Drive asks for an output to be switched.
type Drive struct {
	Output string
	On     bool
	// Cause is the alarm transition behind the change; its Key is empty when there is none.
	Cause contract.Alarm
	// Why says in a few words why the output changes, for logs: "pre-runaway raised", "acknowledged:
	// sounder silenced", "min_on 10m elapsed".
	Why string
}

// State is an output's current state as actions see it.
type State struct {
	Output string
	On     bool
	Since  time.Time
	// Cause is the alarm that switched it on (or last changed it).
	Cause string
}

type output struct {
	Output
	specs []int // the specs that drive it
	on    bool
	since time.Time
	minOn time.Duration
	cause contract.Alarm
	// pending: no alarm holds it any more, but its min_on has not run out.
	pending bool
}

// Engine holds the outputs' states. It is not safe for concurrent use; the agent calls it from its loop.
type Engine struct {
	specs  []Spec
	outs   []*output
	alarms map[string]contract.Alarm // the latest state of every alarm some spec selects
}

// New builds an engine; outputs lists every output the specs name (others are ignored).
func New(specs []Spec, outputs []Output) *Engine {
	e := &Engine{specs: specs, alarms: map[string]contract.Alarm{}}
	for _, o := range outputs {
		out := &output{Output: o}
		for i := range specs {
			for _, id := range specs[i].Do {
				if id == o.ID {
					out.specs = append(out.specs, i)
				}
			}
		}
		e.outs = append(e.outs, out)
	}
	return e
}

func (s *Spec) selects(a *contract.Alarm) bool {
	if s.Rule != "" && s.Rule != a.Rule {
		return false
	}
	if s.Severity != "" && s.Severity != a.Severity {
		return false
	}
	if s.Sensor != "" {
		if ok, _ := path.Match(s.Sensor, a.Sensor); !ok {
			return false
		}
	}
	return true
}

// holds reports whether alarm a holds the spec's outputs at now, ignoring sounder silencing.
func (s *Spec) holds(a *contract.Alarm, now time.Time) bool {
	if a.ShelvedUntil != nil && a.ShelvedUntil.After(now) {
		return false // shelving silences: a shelved alarm drives nothing
	}
	if s.UntilAck {
		return !a.Acked && (a.State == contract.Active || a.Episode != 0)
	}
	return a.State == contract.Active
}

// Update takes a batch of transitions at now and appends the drives they cause to out.
func (e *Engine) Update(trs []contract.Alarm, now time.Time, out []Drive) []Drive {
	touched := false
	for i := range trs {
		t := &trs[i]
		matched := false
		for j := range e.specs {
			if !e.specs[j].selects(t) {
				continue
			}
			matched = true
			for _, o := range e.outs {
				if o.drivenBy(j) {
					o.cause = *t
				}
			}
		}
		if !matched {
			continue
		}
		touched = true
		if t.State == contract.Cleared && t.Acked && t.ShelvedUntil == nil {
			delete(e.alarms, t.Key) // back to normal: holds nothing any more
		} else {
			e.alarms[t.Key] = *t
		}
	}
	if !touched {
		return out
	}
	return e.eval(now, out, "")
}

// Restore takes the alarm states restored at start (or kept across a reload) and appends the drives that
// bring the outputs to match them.
func (e *Engine) Restore(alarms []contract.Alarm, now time.Time, out []Drive) []Drive {
	for i := range alarms {
		a := &alarms[i]
		for j := range e.specs {
			if e.specs[j].selects(a) {
				e.alarms[a.Key] = *a
				break
			}
		}
	}
	return e.eval(now, out, "restored")
}

// Tick switches off outputs whose minimum on-time has run out, and appends those drives to out.
func (e *Engine) Tick(now time.Time, out []Drive) []Drive {
	for _, o := range e.outs {
		if o.pending && now.Sub(o.since) >= o.minOn {
			return e.eval(now, out, "")
		}
	}
	return out
}

func (o *output) drivenBy(spec int) bool {
	for _, s := range o.specs {
		if s == spec {
			return true
		}
	}
	return false
}

func (e *Engine) eval(now time.Time, out []Drive, why string) []Drive {
	for _, o := range e.outs {
		var raw, live bool
		var minOn time.Duration
		var holder contract.Alarm
		for _, j := range o.specs {
			s := &e.specs[j]
			for _, a := range e.alarms {
				if !s.selects(&a) || !s.holds(&a, now) {
					continue
				}
				raw = true
				if o.Sounder && a.Acked {
					continue // acknowledged: the sounder is silenced, whatever else holds the alarm
				}
				live = true
				minOn = max(minOn, s.MinOn)
				if holder.Key == "" || a.Seq > holder.Seq {
					holder = a
				}
			}
		}
		o.pending = false
		switch {
		case live && !o.on:
			o.on, o.since, o.minOn = true, now, minOn
			cause := o.cause
			if cause.Key == "" || !e.holding(o, &cause, now) {
				cause = holder
			}
			o.cause = cause
			w := why
			if w == "" {
				w = cause.Key + " " + cause.Event
			}
			out = append(out, Drive{Output: o.ID, On: true, Cause: cause, Why: w})
		case live && o.on:
			o.minOn = max(o.minOn, minOn)
		case !live && o.on:
			silenced := o.Sounder && raw
			elapsed := now.Sub(o.since) >= o.minOn
			if !silenced && !elapsed {
				o.pending = true // held by min_on; Tick switches it off when it runs out
				continue
			}
			o.on, o.since = false, now
			w := why
			switch {
			case w != "":
			case silenced:
				w = "acknowledged: sounder silenced"
			case o.minOn > 0 && o.cause.Event != contract.EventClear && o.cause.Event != contract.EventAck:
				w = "min_on " + o.minOn.String() + " elapsed"
			default:
				w = o.cause.Key + " " + o.cause.Event
			}
			out = append(out, Drive{Output: o.ID, On: false, Cause: o.cause, Why: w})
		}
	}
	return out
}

// holding reports whether alarm a currently holds output o (ignoring silencing).
func (e *Engine) holding(o *output, a *contract.Alarm, now time.Time) bool {
	for _, j := range o.specs {
		if e.specs[j].selects(a) && e.specs[j].holds(a, now) {
			return true
		}
	}
	return false
}

// States lists every output's state, in config order.
func (e *Engine) States() []State {
	out := make([]State, len(e.outs))
	for i, o := range e.outs {
		out[i] = State{Output: o.ID, On: o.on, Since: o.since, Cause: o.cause.Key}
	}
	return out
}

// Carry copies the outputs' on/off states and on-times from old (the engine before a reload) for the
// outputs both know, so a reload switches only what its new actions change.
func (e *Engine) Carry(old *Engine) {
	if old == nil {
		return
	}
	for _, o := range e.outs {
		for _, p := range old.outs {
			if p.ID == o.ID {
				o.on, o.since, o.minOn, o.cause = p.on, p.since, p.minOn, p.cause
			}
		}
	}
}
