package rules

import (
	"fmt"
	"strconv"
	"time"

	"github.com/rackwatch/rackwatch/agent/alarm"
	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/reading"
)

// Options tell the engine what it cannot learn from the rules alone.
type Options struct {
	Gateway string
	Site    string
	// Labels returns a sensor's labels (copied into alarms and used by match.labels).
	Labels func(sensor string) map[string]string
	// Unit returns the unit of a sensor's channel, for messages and the alarm object.
	Unit func(sensor string, ch reading.Channel) string
}

// Engine holds every rule and every alarm's state.
type Engine struct {
	opt    Options
	rules  []*rule
	alarms map[string]*state
	seq    uint64
}

type rule struct {
	cfg *config.Rule
}

type state struct {
	a        alarm.Alarm
	pending  time.Time // when the condition first held, while waiting out `for`
	raised   bool
	hasValue bool
}

// New builds an engine for the configured rules.
func New(cfg *config.Config, opt Options) (*Engine, error) {
	if opt.Labels == nil {
		opt.Labels = func(string) map[string]string { return nil }
	}
	if opt.Unit == nil {
		opt.Unit = func(_ string, ch reading.Channel) string { return reading.Unit(ch) }
	}
	e := &Engine{opt: opt, alarms: map[string]*state{}}
	for i := range cfg.Rules {
		r := &cfg.Rules[i]
		if r.Kind() != config.KindLevel {
			continue
		}
		e.rules = append(e.rules, &rule{cfg: r})
	}
	return e, nil
}

// Seq is the last sequence number handed out.
func (e *Engine) Seq() uint64 { return e.seq }

// Eval feeds one reading (r.At is "now") and appends the transitions it causes to out.
func (e *Engine) Eval(r *reading.Reading, out []alarm.Alarm) []alarm.Alarm {
	if !r.Good() {
		return out
	}
	labels := e.opt.Labels(r.Sensor)
	for _, ru := range e.rules {
		c := ru.cfg
		if !c.Match.Matches(r.Sensor, r.Channel, labels) {
			continue
		}
		key := c.ID + "/" + r.Sensor + "/" + string(r.Channel)
		st := e.alarms[key]
		if st == nil {
			st = &state{a: alarm.Alarm{Gateway: e.opt.Gateway, Site: e.opt.Site, Key: key, Rule: c.ID, Sensor: r.Sensor,
				Channel: string(r.Channel), Severity: c.Severity, State: alarm.Cleared, Unit: e.opt.Unit(r.Sensor, r.Channel),
				Labels: labels}}
			e.alarms[key] = st
		}
		var threshold float64
		var bad bool
		if c.Above != nil {
			threshold = *c.Above
			clear := threshold
			if c.Clear != nil {
				clear = *c.Clear
			}
			bad = r.Value > threshold || (st.raised && r.Value > clear)
		} else {
			threshold = *c.Below
			clear := threshold
			if c.Clear != nil {
				clear = *c.Clear
			}
			bad = r.Value < threshold || (st.raised && r.Value < clear)
		}
		switch {
		case bad && !st.raised:
			if st.pending.IsZero() {
				st.pending = r.At
			}
			if r.At.Sub(st.pending) >= c.For.D() {
				st.raised = true
				out = e.transition(st, alarm.Active, alarm.EventRaise, r, threshold, out)
			}
		case !bad && st.raised:
			st.raised = false
			st.pending = time.Time{}
			out = e.transition(st, alarm.Cleared, alarm.EventClear, r, threshold, out)
		case !bad:
			st.pending = time.Time{}
		}
	}
	return out
}

// Tick advances time without a reading (for `for` delays and staleness) and appends transitions to out.
func (e *Engine) Tick(now time.Time, out []alarm.Alarm) []alarm.Alarm { return out }

func (e *Engine) transition(st *state, to, event string, r *reading.Reading, threshold float64, out []alarm.Alarm) []alarm.Alarm {
	e.seq++
	a := &st.a
	a.State, a.Event, a.Seq, a.Time = to, event, e.seq, r.At
	a.Value, a.Threshold = alarm.Float(r.Value), alarm.Float(threshold)
	if to == alarm.Active {
		a.Since = r.At
		a.Acked = false
	}
	a.Message = e.message(st, r, threshold)
	return append(out, *a)
}

func (e *Engine) message(st *state, r *reading.Reading, threshold float64) string {
	unit := st.a.Unit
	v := strconv.FormatFloat(r.Value, 'f', -1, 64)
	if st.a.State == alarm.Cleared {
		return fmt.Sprintf("%s %s back to normal at %s%s", r.Sensor, r.Channel, v, unit)
	}
	return fmt.Sprintf("%s %s %s%s, limit %g%s", r.Sensor, r.Channel, v, unit, threshold, unit)
}
