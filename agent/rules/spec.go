package rules

import (
	"math"
	"path"
	"slices"
	"time"

	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// Rule is one alarm rule. Exactly one kind applies: level (above/below), rate (rate_above/rate_below),
// staleness (stale), state (state: true|false on a boolean channel) or composite (all/any of other rules).
type Rule struct {
	ID        string            `yaml:"id"`
	Match     *Match            `yaml:"match"`
	Above     *float64          `yaml:"above"`
	Below     *float64          `yaml:"below"`
	Clear     *float64          `yaml:"clear"`
	For       settings.Duration `yaml:"for"`
	ClearFor  settings.Duration `yaml:"clear_for"`
	RateAbove *float64          `yaml:"rate_above"`
	RateBelow *float64          `yaml:"rate_below"`
	Per       settings.Duration `yaml:"per"`
	Window    settings.Duration `yaml:"window"`
	Stale     settings.Duration `yaml:"stale"`
	State     *bool             `yaml:"state"`
	All       []string          `yaml:"all"`
	Any       []string          `yaml:"any"`
	Severity  string            `yaml:"severity"`
	Latch     bool              `yaml:"latch"`
	// Message, when set, starts the alarm message ("UPS room battery string A: …"), before the generated
	// description of what was measured.
	Message string `yaml:"message"`
	Line    int
}

// Match selects readings by sensor id glob, channel and labels. Empty fields match everything.
type Match struct {
	Sensor  string            `yaml:"sensor"`
	Channel string            `yaml:"channel"`
	Labels  map[string]string `yaml:"labels"`
	Line    int
}

// MaxRateWindow bounds a rate rule's window: the engine keeps a fixed number of buckets per window, so a
// longer one only blurs the fit, and a rate over hours is a level rule's job.
const MaxRateWindow = settings.Duration(24 * time.Hour)

// Rule kinds.
const (
	KindLevel     = "level"
	KindRate      = "rate"
	KindStale     = "stale"
	KindState     = "state"
	KindComposite = "composite"
)

// Kind says which kind of rule r is; Load has checked that exactly one applies.
func (r *Rule) Kind() string {
	switch {
	case len(r.All) > 0 || len(r.Any) > 0:
		return KindComposite
	case r.RateAbove != nil || r.RateBelow != nil:
		return KindRate
	case r.Stale > 0:
		return KindStale
	case r.State != nil:
		return KindState
	}
	return KindLevel
}

// Matches reports whether the rule's selector takes readings of this sensor and channel.
func (m *Match) Matches(sensor string, ch reading.Channel, labels map[string]string) bool {
	if m == nil {
		return true
	}
	if m.Sensor != "" {
		if ok, _ := path.Match(m.Sensor, sensor); !ok {
			return false
		}
	}
	if m.Channel != "" && m.Channel != string(ch) {
		return false
	}
	for k, v := range m.Labels {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// ApplyDefaults fills what a rule leaves out: severity warning; a rate per minute over twice that.
func (r *Rule) ApplyDefaults() {
	if r.Severity == "" {
		r.Severity = "warning"
	}
	if r.RateAbove != nil || r.RateBelow != nil {
		if r.Per == 0 {
			r.Per = settings.Duration(time.Minute)
		}
		if r.Window == 0 {
			r.Window = r.Per * 2
		}
	}
}

// Validate checks a list of rules on their own, with their defaults: ids, kinds, thresholds, windows and
// the references between composites. Every problem is located at its rule's line in file.
func Validate(file string, rules []Rule) settings.Errors {
	rules = slices.Clone(rules)
	for i := range rules {
		rules[i].ApplyDefaults()
	}
	var errs settings.Errors
	c := collector{file: file, errs: &errs}
	ids := map[string]*Rule{}
	for i := range rules {
		r := &rules[i]
		switch {
		case r.ID == "":
			c.add(r.Line, "rule: id is required")
		case !reading.ValidID(r.ID):
			c.add(r.Line, "rule id %q: use only a-z, 0-9, '.', '_' and '-' (it is part of MQTT topics)", r.ID)
		}
		if prev, dup := ids[r.ID]; dup {
			c.add(r.Line, "rule id %q is defined twice (first on line %d)", r.ID, prev.Line)
		}
		ids[r.ID] = r
		switch r.Severity {
		case "info", "warning", "critical":
		default:
			c.add(r.Line, "rule %q: severity %q: use info, warning or critical", r.ID, r.Severity)
		}
		kinds := 0
		if r.Above != nil || r.Below != nil {
			kinds++
		}
		if r.RateAbove != nil || r.RateBelow != nil {
			kinds++
		}
		if r.Stale > 0 {
			kinds++
		}
		if r.State != nil {
			kinds++
		}
		if len(r.All) > 0 || len(r.Any) > 0 {
			kinds++
		}
		if kinds != 1 {
			c.add(r.Line, "rule %q: give exactly one of above/below, rate_above/rate_below, stale, state or all/any", r.ID)
			continue
		}
		if r.Above != nil && r.Below != nil {
			c.add(r.Line, "rule %q: above and below together; write two rules", r.ID)
		}
		if r.RateAbove != nil && r.RateBelow != nil {
			c.add(r.Line, "rule %q: rate_above and rate_below together; write two rules", r.ID)
		}
		if r.Clear != nil {
			switch {
			case r.Above != nil && *r.Clear > *r.Above:
				c.add(r.Line, "rule %q: clear %g must not be above the threshold %g", r.ID, *r.Clear, *r.Above)
			case r.Below != nil && *r.Clear < *r.Below:
				c.add(r.Line, "rule %q: clear %g must not be below the threshold %g", r.ID, *r.Clear, *r.Below)
			case r.RateAbove != nil && *r.Clear > *r.RateAbove:
				c.add(r.Line, "rule %q: clear %g must not be above rate_above %g", r.ID, *r.Clear, *r.RateAbove)
			case r.RateBelow != nil && *r.Clear < *r.RateBelow:
				c.add(r.Line, "rule %q: clear %g must not be below rate_below %g", r.ID, *r.Clear, *r.RateBelow)
			case r.Above == nil && r.Below == nil && r.RateAbove == nil && r.RateBelow == nil:
				c.add(r.Line, "rule %q: clear applies only to above/below and rate_above/rate_below rules", r.ID)
			}
		}
		for _, v := range []*float64{r.Above, r.Below, r.Clear, r.RateAbove, r.RateBelow} {
			if v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0)) {
				c.add(r.Line, "rule %q: thresholds must be finite numbers", r.ID)
				break
			}
		}
		if r.Kind() != KindRate && (r.Per != 0 || r.Window != 0) {
			c.add(r.Line, "rule %q: per and window apply only to rate_above/rate_below rules", r.ID)
		}
		if r.Kind() == KindRate {
			switch {
			case r.Window < r.Per/4:
				c.add(r.Line, "rule %q: window %s is too short to fit a rate per %s", r.ID, r.Window, r.Per)
			case r.Window < settings.Duration(time.Second):
				c.add(r.Line, "rule %q: window %s is too short; fit a rate over at least 1s (several readings)", r.ID, r.Window)
			case r.Window > MaxRateWindow:
				c.add(r.Line, "rule %q: window %s is longer than %s", r.ID, r.Window, MaxRateWindow)
			}
		}
		if r.Kind() == KindStale && r.Stale < settings.Duration(time.Second) {
			c.add(r.Line, "rule %q: stale %s is too short (at least 1s)", r.ID, r.Stale)
		}
		if r.Kind() == KindComposite {
			if r.Match != nil {
				c.add(r.Match.Line, "rule %q: a composite rule (all/any) takes no match", r.ID)
			}
			if len(r.All) > 0 && len(r.Any) > 0 {
				c.add(r.Line, "rule %q: all and any together; nest one composite in another", r.ID)
			}
		} else if r.Match == nil {
			c.add(r.Line, "rule %q: match is required (e.g. match: {sensor: \"*\", channel: temperature})", r.ID)
		} else if r.Match.Sensor != "" {
			if _, err := path.Match(r.Match.Sensor, ""); err != nil {
				c.add(r.Match.Line, "rule %q: sensor pattern %q is malformed", r.ID, r.Match.Sensor)
			}
		}
	}
	for i := range rules {
		r := &rules[i]
		for _, ref := range append(append([]string{}, r.All...), r.Any...) {
			if _, ok := ids[ref]; !ok {
				c.add(r.Line, "rule %q: refers to rule %q, which is not defined", r.ID, ref)
			}
		}
	}
	// A composite that refers to itself, directly or through others, could never settle.
	state := map[string]int{} // 0 unvisited, 1 on the stack, 2 done
	var visit func(id string) bool
	visit = func(id string) bool {
		r := ids[id]
		if r == nil || state[id] == 2 {
			return false
		}
		if state[id] == 1 {
			return true
		}
		state[id] = 1
		for _, ref := range append(append([]string{}, r.All...), r.Any...) {
			if visit(ref) {
				return true
			}
		}
		state[id] = 2
		return false
	}
	for i := range rules {
		r := &rules[i]
		if state[r.ID] == 0 && visit(r.ID) {
			c.add(r.Line, "rule %q: composite rules refer to each other in a loop", r.ID)
			break
		}
	}
	return errs
}

type collector struct {
	file string
	errs *settings.Errors
}

func (c collector) add(line int, format string, args ...any) {
	c.errs.Add(c.file, line, format, args...)
}
