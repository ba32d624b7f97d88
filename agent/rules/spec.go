package rules

import (
	"fmt"
	"math"
	"path"
	"slices"
	"time"

	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// Rule is one alarm rule. Exactly one kind applies: level (above/below), differential (above/below with
// against), baseline (above_baseline), rate (rate_above/rate_below), staleness (stale), stuck (stuck),
// state (state: true|false on a boolean channel) or composite (all/any of other rules).
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
	// Against makes a level rule differential: above/below apply to the value minus the median of the
	// latest good values of the other sensors' channels it matches (the sibling strings, the room air).
	Against *Match `yaml:"against"`
	// Learn, on a differential rule, learns the normal difference over this time constant and compares
	// the excess over it; 0 compares the raw difference.
	Learn settings.Duration `yaml:"learn"`
	// AboveBaseline compares the value with its own slowly learned baseline.
	AboveBaseline *Baseline `yaml:"above_baseline"`
	// Stuck raises when the value has not moved by more than Resolution for this long.
	Stuck      settings.Duration `yaml:"stuck"`
	Resolution *float64          `yaml:"resolution"`
	// Device makes a staleness rule watch the whole sensor: one alarm per sensor, raised when none of
	// its matched channels has had a good reading for `stale`.
	Device bool `yaml:"device"`
	// AtLeast (with any) raises when at least this many of the listed rules are active (or remembered).
	AtLeast int `yaml:"at_least"`
	// Within gives a composite memory: a listed rule counts while active and for this long after.
	Within settings.Duration `yaml:"within"`
	// DistinctSensors counts the sensors behind the listed rules' alarms rather than the rules.
	DistinctSensors bool `yaml:"distinct_sensors"`
	// Unless names rules whose active alarm (on the same sensor, or a composite's) masks this rule's
	// condition: an on-battery rule unless the UPS reports a self-test.
	Unless []string `yaml:"unless"`
	// Internal rules are evaluated and feed composites but are never published.
	Internal bool   `yaml:"internal"`
	Severity string `yaml:"severity"`
	Latch    bool   `yaml:"latch"`
	// ShelveMax is the longest an operator may shelve this rule's alarms (DefaultShelveMax when absent); 0
	// means never: a life-safety alarm (smoke, fire) can be acknowledged but not shelved.
	ShelveMax *settings.Duration `yaml:"shelve_max"`
	// Message, when set, starts the alarm message ("UPS room battery string A: …"), before the generated
	// description of what was measured.
	Message string `yaml:"message"`
	// File is the file the rule was written in (set by the loader for included rule files).
	File string `yaml:"-"`
	Line int
}

// DefaultShelveMax is how long an alarm may be shelved when its rule does not say: a working shift, so a
// shelve forgotten at the end of maintenance ends by itself.
const DefaultShelveMax = settings.Duration(8 * time.Hour)

// MaxShelve bounds shelve_max: shelving is for maintenance, and a forgotten shelve must not silence a
// battery room for good.
const MaxShelve = settings.Duration(7 * 24 * time.Hour)

// ShelveLimit is the longest the rule's alarms may be shelved; 0 means never.
func (r *Rule) ShelveLimit() time.Duration {
	if r.ShelveMax == nil {
		return DefaultShelveMax.D()
	}
	return r.ShelveMax.D()
}

// Baseline is an above_baseline condition: raise when the value exceeds both Ratio times its learned
// baseline and the baseline plus MinRise.
type Baseline struct {
	Ratio   float64 `yaml:"ratio"`
	MinRise float64 `yaml:"min_rise"`
	// Learn is the baseline's time constant (default 6h).
	Learn settings.Duration `yaml:"learn"`
	Line  int
}

// DefaultBaselineLearn is above_baseline's default time constant.
const DefaultBaselineLearn = settings.Duration(6 * time.Hour)

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
	KindDiff      = "differential"
	KindBaseline  = "baseline"
	KindStuck     = "stuck"
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
	case r.Stuck > 0:
		return KindStuck
	case r.AboveBaseline != nil:
		return KindBaseline
	case r.Against != nil:
		return KindDiff
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
	if b := r.AboveBaseline; b != nil && b.Learn == 0 {
		nb := *b
		nb.Learn = DefaultBaselineLearn
		r.AboveBaseline = &nb
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
	base := collector{file: file, errs: &errs}
	at := func(r *Rule) collector {
		if r.File != "" {
			return collector{file: r.File, errs: &errs}
		}
		return base
	}
	ids := map[string]*Rule{}
	for i := range rules {
		r := &rules[i]
		c := at(r)
		switch {
		case r.ID == "":
			c.add(r.Line, "rule: id is required")
		case !reading.ValidID(r.ID):
			c.add(r.Line, "rule id %q: use only a-z, 0-9, '.', '_' and '-' (it is part of MQTT topics)", r.ID)
		case r.ID == SystemRule:
			c.add(r.Line, "rule id %q is reserved for the gateway's own alarms (rackwatch/gateway/…); choose another", r.ID)
		}
		if prev, dup := ids[r.ID]; dup {
			where := fmt.Sprintf("line %d", prev.Line)
			if prev.File != r.File {
				pf := prev.File
				if pf == "" {
					pf = file
				}
				where = fmt.Sprintf("%s:%d", pf, prev.Line)
			}
			c.add(r.Line, "rule id %q is defined twice (first on %s)", r.ID, where)
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
		if r.AboveBaseline != nil {
			kinds++
		}
		if r.Stuck > 0 {
			kinds++
		}
		if kinds != 1 {
			c.add(r.Line, "rule %q: give exactly one of above/below, above_baseline, rate_above/rate_below, stale, stuck, state or all/any", r.ID)
			continue
		}
		validateNewKinds(c, r)
		if r.Internal && r.Latch {
			c.add(r.Line, "rule %q: an internal rule is never published, so nobody could acknowledge its latch", r.ID)
		}
		if m := r.ShelveMax; m != nil {
			switch {
			case r.Internal:
				c.add(r.Line, "rule %q: an internal rule is never published, so it is never shelved; shelve_max does not apply", r.ID)
			case *m < 0 || *m > MaxShelve:
				c.add(r.Line, "rule %q: shelve_max %s: use 0 (never shelved, only acknowledged) up to %s", r.ID, *m, MaxShelve)
			}
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
		if k := r.Kind(); k != KindRate && (r.Per != 0 || r.Window != 0) {
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
			validateComposite(c, r)
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
		c := at(r)
		for _, ref := range append(append([]string{}, r.All...), r.Any...) {
			if _, ok := ids[ref]; !ok {
				c.add(r.Line, "rule %q: refers to rule %q, which is not defined", r.ID, ref)
			}
		}
		for _, ref := range r.Unless {
			u, ok := ids[ref]
			switch {
			case !ok:
				c.add(r.Line, "rule %q: unless refers to rule %q, which is not defined", r.ID, ref)
			case ref == r.ID:
				c.add(r.Line, "rule %q: unless refers to itself", r.ID)
			case u.Kind() == KindComposite || len(u.Unless) > 0:
				c.add(r.Line, "rule %q: unless refers to %q; name a rule on a sensor channel without unless of its own", r.ID, ref)
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
			at(r).add(r.Line, "rule %q: composite rules refer to each other in a loop", r.ID)
			break
		}
	}
	return errs
}

// validateNewKinds checks the keys of differential, baseline, stuck and device-staleness rules, and that
// their keys appear on no other kind.
func validateNewKinds(c collector, r *Rule) {
	k := r.Kind()
	if r.Against != nil && k != KindDiff {
		c.add(r.Against.Line, "rule %q: against applies only to above/below rules (a differential)", r.ID)
	}
	if r.Learn != 0 && k != KindDiff {
		c.add(r.Line, "rule %q: learn applies only to differential rules (above/below with against)", r.ID)
	}
	if r.Learn < 0 || (r.Learn > 0 && r.Learn < settings.Duration(time.Minute)) {
		c.add(r.Line, "rule %q: learn %s is too short; a normal offset is learned over hours (at least 1m)", r.ID, r.Learn)
	}
	if k == KindDiff && r.Against.Sensor != "" {
		if _, err := path.Match(r.Against.Sensor, ""); err != nil {
			c.add(r.Against.Line, "rule %q: against sensor pattern %q is malformed", r.ID, r.Against.Sensor)
		}
	}
	if r.Resolution != nil && k != KindStuck {
		c.add(r.Line, "rule %q: resolution applies only to stuck rules", r.ID)
	}
	if k == KindStuck {
		if r.Stuck < settings.Duration(time.Minute) {
			c.add(r.Line, "rule %q: stuck %s is too short (at least 1m)", r.ID, r.Stuck)
		}
		if r.Resolution != nil && (*r.Resolution < 0 || math.IsNaN(*r.Resolution) || math.IsInf(*r.Resolution, 0)) {
			c.add(r.Line, "rule %q: resolution must be a finite number, 0 or more", r.ID)
		}
	}
	if r.Device && k != KindStale {
		c.add(r.Line, "rule %q: device applies only to stale rules", r.ID)
	}
	if b := r.AboveBaseline; b != nil {
		switch {
		case !(b.Ratio >= 1) || math.IsInf(b.Ratio, 0):
			c.add(b.Line, "rule %q: above_baseline.ratio must be a number of at least 1 (3 means three times the baseline)", r.ID)
		case !(b.MinRise >= 0) || math.IsInf(b.MinRise, 0):
			c.add(b.Line, "rule %q: above_baseline.min_rise must be a number, 0 or more, in the channel's unit", r.ID)
		case b.Ratio == 1 && b.MinRise == 0:
			c.add(b.Line, "rule %q: above_baseline needs ratio above 1 or min_rise above 0", r.ID)
		case b.Learn < settings.Duration(time.Minute):
			c.add(b.Line, "rule %q: above_baseline.learn %s is too short (at least 1m; the default is %s)", r.ID, b.Learn, DefaultBaselineLearn)
		}
	}
	if k != KindComposite && (r.AtLeast != 0 || r.Within != 0 || r.DistinctSensors) {
		c.add(r.Line, "rule %q: at_least, within and distinct_sensors apply only to composite rules (all/any)", r.ID)
	}
}

func validateComposite(c collector, r *Rule) {
	if r.AtLeast != 0 {
		switch {
		case len(r.Any) == 0:
			c.add(r.Line, "rule %q: at_least goes with any (all already needs every one)", r.ID)
		case r.AtLeast < 1:
			c.add(r.Line, "rule %q: at_least must be 1 or more", r.ID)
		case !r.DistinctSensors && r.AtLeast > len(r.Any):
			c.add(r.Line, "rule %q: at_least %d is more than the %d rules listed", r.ID, r.AtLeast, len(r.Any))
		}
	}
	if r.Within < 0 || r.Within > MaxWithin {
		c.add(r.Line, "rule %q: within must be between 0 and %s", r.ID, MaxWithin)
	}
}

// MaxWithin bounds a composite's memory.
const MaxWithin = settings.Duration(7 * 24 * time.Hour)

type collector struct {
	file string
	errs *settings.Errors
}

func (c collector) add(line int, format string, args ...any) {
	c.errs.Add(c.file, line, format, args...)
}
