package rules

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/reading"
)

// Options tell the engine what it cannot learn from the rules alone.
type Options struct {
	Gateway string
	Site    string
	// Sensors are the configured sensors. Readings of other sensors are evaluated too (a replayed trace
	// may hold any), with no labels, canonical units and no declared channels.
	Sensors []Sensor
}

// Sensor is what the engine knows of one configured sensor.
type Sensor struct {
	ID string
	// Every is its polling interval; rate rules size their buckets by it.
	Every time.Duration
	// Labels are copied into its alarms and used by match.labels.
	Labels map[string]string
	// Channels lists the channels it will produce and their units, so that the engine builds their alarms
	// up front: a sensor that never answers at all then still raises its staleness alarm. Nil means they
	// are learned from the readings; a channel not listed has its canonical unit.
	Channels []Channel
}

// Channel is one channel of a sensor and its unit.
type Channel struct {
	Name reading.Channel
	Unit string
}

func (e *Engine) labels(sensor string) map[string]string {
	if s := e.sensors[sensor]; s != nil {
		return s.Labels
	}
	return nil
}

func (e *Engine) unit(sensor string, ch reading.Channel) string {
	if s := e.sensors[sensor]; s != nil {
		for _, c := range s.Channels {
			if c.Name == ch {
				return c.Unit
			}
		}
	}
	return reading.Unit(ch)
}

// Engine holds every rule and every alarm's state. It is not safe for concurrent use: the agent feeds it
// from one goroutine.
type Engine struct {
	opt     Options
	sensors map[string]*Sensor
	rules   []*rule
	// composites in an order where every composite comes after the composites it refers to.
	composites []*rule
	inputs     map[inputKey]*input
	bySensor   map[string][]*input
	byKey      map[string]*series
	all        []*series // every alarm, in creation order (for Tick, Next and Snapshot)
	seq        uint64
	// epoch is the first instant the engine saw; window times are kept as ns since it.
	epoch   time.Time
	started bool
	// dirty is set when some rule's count of active alarms went from or to zero, so composites need a look.
	dirty bool
	// orphans are restored alarms whose rule no longer exists or no longer matches; they are cleared at the
	// first evaluation rather than left active on the broker forever.
	orphans []contract.Alarm
}

type inputKey struct {
	sensor string
	ch     reading.Channel
}

// input is one sensor channel and the alarms of every rule that matches it.
type input struct {
	sensor string
	ch     reading.Channel
	series []*series
}

type kind uint8

const (
	kindLevel kind = iota
	kindState
	kindRate
	kindStale
	kindComposite
)

type rule struct {
	cfg       *Rule
	id        string
	kind      kind
	severity  string
	up        bool    // level/rate: raise above the threshold (else below); state: the alarming value
	threshold float64 // level and rate
	clear     float64 // level and rate hysteresis; equals threshold when not configured
	forD      time.Duration
	clearFor  time.Duration
	stale     time.Duration
	per       time.Duration
	window    time.Duration
	perName   string // "min" for per: 1m
	latch     bool
	all       bool // composite: all (else any)
	refs      []*rule
	// active counts this rule's alarms in state active, for the composites that refer to it.
	active int
	comp   *series // a composite's single alarm
}

// series is one alarm: one rule applied to one sensor channel (or a composite rule).
type series struct {
	r   *rule
	a   contract.Alarm // the alarm's state as published, kept up to date silently while shelved
	in  *input
	win *window
	// cond is the debounced condition: it follows hot once hot has differed for `for` (raising) or
	// `clear_for` (clearing). since is when hot last changed.
	cond, hot bool
	since     time.Time
	// condCleared marks a latched alarm whose condition has gone but which waits for an acknowledgement.
	condCleared bool
	value       float64 // last good value
	hasValue    bool
	rate        float64 // last fitted rate, per rule.per
	hasRate     bool
	unit        string // the channel's unit (a.Unit is per-minute for rates)
	lastGood    time.Time
	lastErr     error
	born        time.Time // when the alarm was built: staleness counts from here until a good reading
	base        string    // the message without a command's note ("; acknowledged by …")
	// published is set once a transition of this alarm has gone out (in this run or before a restart).
	published bool
}

// New builds an engine for rules, which are expected to have passed Validate; New applies their defaults
// to its own copy and still refuses what it cannot evaluate.
func New(rules []Rule, opt Options) (*Engine, error) {
	rules = slices.Clone(rules)
	for i := range rules {
		rules[i].ApplyDefaults()
	}
	e := &Engine{opt: opt, sensors: map[string]*Sensor{}, inputs: map[inputKey]*input{}, bySensor: map[string][]*input{},
		byKey: map[string]*series{}}
	for i := range opt.Sensors {
		e.sensors[opt.Sensors[i].ID] = &opt.Sensors[i]
	}
	byID := map[string]*rule{}
	for i := range rules {
		c := &rules[i]
		if _, dup := byID[c.ID]; dup {
			return nil, fmt.Errorf("rules: rule %q is defined twice", c.ID)
		}
		r, err := compile(c)
		if err != nil {
			return nil, err
		}
		byID[c.ID] = r
		e.rules = append(e.rules, r)
	}
	for _, r := range e.rules {
		if r.kind != kindComposite {
			continue
		}
		refs := r.cfg.All
		if len(refs) == 0 {
			refs = r.cfg.Any
		}
		for _, id := range refs {
			ref := byID[id]
			if ref == nil {
				return nil, fmt.Errorf("rules: rule %q refers to rule %q, which is not defined", r.id, id)
			}
			r.refs = append(r.refs, ref)
		}
	}
	// Order composites so that one evaluation pass settles nested ones.
	state := map[*rule]int{}
	var visit func(r *rule) error
	visit = func(r *rule) error {
		switch state[r] {
		case 1:
			return fmt.Errorf("rules: composite rule %q refers to itself through others", r.id)
		case 2:
			return nil
		}
		state[r] = 1
		for _, ref := range r.refs {
			if err := visit(ref); err != nil {
				return err
			}
		}
		state[r] = 2
		if r.kind == kindComposite {
			e.composites = append(e.composites, r)
		}
		return nil
	}
	for _, r := range e.rules {
		if err := visit(r); err != nil {
			return nil, err
		}
	}
	for _, r := range e.composites {
		s := &series{r: r}
		s.a = contract.Alarm{Gateway: opt.Gateway, Site: opt.Site, Key: r.id, Rule: r.id, Severity: r.severity,
			State: contract.Cleared, Acked: true, Labels: map[string]string{}}
		r.comp = s
		e.byKey[s.a.Key] = s
		e.all = append(e.all, s)
	}
	for _, sn := range opt.Sensors {
		for _, ch := range sn.Channels {
			if e.inputs[inputKey{sn.ID, ch.Name}] == nil {
				e.newInput(sn.ID, ch.Name, time.Time{})
			}
		}
	}
	return e, nil
}

func compile(c *Rule) (*rule, error) {
	r := &rule{cfg: c, id: c.ID, severity: c.Severity, forD: c.For.D(), clearFor: c.ClearFor.D(), latch: c.Latch}
	if r.severity == "" {
		r.severity = contract.Warning
	}
	if !reading.ValidID(c.ID) {
		return nil, fmt.Errorf("rules: rule id %q is not valid", c.ID)
	}
	switch c.Kind() {
	case KindComposite:
		r.kind, r.all = kindComposite, len(c.All) > 0
		return r, nil
	case KindRate:
		r.kind, r.per, r.window = kindRate, c.Per.D(), c.Window.D()
		if r.per <= 0 {
			r.per = time.Minute
		}
		if r.window <= 0 {
			r.window = 2 * r.per
		}
		r.perName = perName(r.per)
		if c.RateAbove != nil {
			r.up, r.threshold = true, *c.RateAbove
		} else {
			r.threshold = *c.RateBelow
		}
	case KindStale:
		r.kind, r.stale = kindStale, c.Stale.D()
	case KindState:
		r.kind, r.up = kindState, *c.State
	default:
		r.kind = kindLevel
		switch {
		case c.Above != nil:
			r.up, r.threshold = true, *c.Above
		case c.Below != nil:
			r.threshold = *c.Below
		default:
			return nil, fmt.Errorf("rules: rule %q has no condition", c.ID)
		}
	}
	r.clear = r.threshold
	if c.Clear != nil {
		r.clear = *c.Clear
	}
	if c.Match == nil {
		return nil, fmt.Errorf("rules: rule %q has no match", c.ID)
	}
	return r, nil
}

// Seq is the last sequence number handed out.
func (e *Engine) Seq() uint64 { return e.seq }

// begin notes the first instant the engine sees and flushes restored alarms that no rule owns any more.
func (e *Engine) begin(now time.Time, out []contract.Alarm) []contract.Alarm {
	if !e.started {
		e.started, e.epoch = true, now
		for _, s := range e.all {
			if s.born.IsZero() {
				s.born = now
			}
		}
	}
	if len(e.orphans) > 0 {
		for i := range e.orphans {
			a := e.orphans[i]
			e.seq++
			a.State, a.Event, a.Seq, a.Time, a.Since = contract.Cleared, contract.EventClear, e.seq, now, now
			a.ShelvedUntil = nil
			a.Message = fmt.Sprintf("%s: cleared because rule %s no longer applies to it after a configuration change", a.Key, a.Rule)
			out = append(out, a)
		}
		e.orphans = nil
	}
	return out
}

func (e *Engine) ns(t time.Time) int64 { return int64(t.Sub(e.epoch)) }

// newInput builds the alarms of every rule matching a sensor channel the engine has not seen before. It is
// the only place Eval allocates, once per channel.
func (e *Engine) newInput(sensor string, ch reading.Channel, now time.Time) *input {
	in := &input{sensor: sensor, ch: ch}
	labels := e.labels(sensor)
	var lab map[string]string
	for _, r := range e.rules {
		if r.kind == kindComposite || !r.cfg.Match.Matches(sensor, ch, labels) {
			continue
		}
		if lab == nil {
			lab = make(map[string]string, len(labels))
			for k, v := range labels {
				lab[k] = v
			}
		}
		s := &series{r: r, in: in, unit: e.unit(sensor, ch), born: now}
		s.a = contract.Alarm{Gateway: e.opt.Gateway, Site: e.opt.Site, Key: r.id + "/" + sensor + "/" + string(ch),
			Rule: r.id, Sensor: sensor, Channel: string(ch), Severity: r.severity, State: contract.Cleared, Acked: true,
			Unit: s.unit, Labels: lab}
		switch r.kind {
		case kindLevel:
			s.a.Threshold = contract.Float(r.threshold)
		case kindRate:
			s.a.Threshold = contract.Float(r.threshold)
			s.a.Unit = rateUnit(s.unit, r.perName)
			var every time.Duration
			if sc := e.sensors[sensor]; sc != nil {
				every = sc.Every
			}
			s.win = newWindow(r.window, every)
		case kindStale:
			s.a.Threshold = contract.Float(r.stale.Seconds())
			s.a.Unit = "s"
		}
		e.byKey[s.a.Key] = s
		e.all = append(e.all, s)
		in.series = append(in.series, s)
	}
	e.inputs[inputKey{sensor, ch}] = in
	e.bySensor[sensor] = append(e.bySensor[sensor], in)
	return in
}

// Eval feeds one reading (r.At is "now") and appends the transitions it causes to out. A bad reading
// changes no level, state or rate alarm (it has no value) but feeds staleness with its error. A bad
// reading without a channel stands for every channel of its sensor (a whole device that failed).
//
// In steady state (channels already seen, no transition) Eval does not allocate.
func (e *Engine) Eval(r *reading.Reading, out []contract.Alarm) []contract.Alarm {
	if r.Good() && !reading.Finite(r.Value) {
		v := *r // NaN or an infinity is no value: the bad reading it is (copied only on this path)
		v.Vet()
		r = &v
	}
	out = e.begin(r.At, out)
	if r.Channel == "" {
		if !r.Good() {
			for _, in := range e.bySensor[r.Sensor] {
				for _, s := range in.series {
					out = e.feed(s, r, out)
				}
			}
		}
	} else {
		in := e.inputs[inputKey{r.Sensor, r.Channel}]
		if in == nil {
			in = e.newInput(r.Sensor, r.Channel, r.At)
		}
		for _, s := range in.series {
			out = e.feed(s, r, out)
		}
	}
	if e.dirty {
		out = e.evalComposites(r.At, out)
	}
	return out
}

// feed applies one reading to one alarm.
func (e *Engine) feed(s *series, r *reading.Reading, out []contract.Alarm) []contract.Alarm {
	ru := s.r
	now := r.At
	if !r.Good() {
		if ru.kind == kindStale {
			s.lastErr = r.Err
			out = e.checkStale(s, now, out)
		}
		return out
	}
	v := r.Value
	s.value, s.hasValue = v, true
	switch ru.kind {
	case kindLevel:
		s.setHot(ru.beyond(v, s.cond), now)
	case kindState:
		s.setHot((v >= 0.5) == ru.up, now)
	case kindRate:
		t := e.ns(now)
		s.win.add(t, v)
		slope, ok := s.win.slope(t)
		if !ok {
			// Too few readings in the window to say: the alarm keeps its condition.
			break
		}
		// Six decimals: far below any sensor's resolution, and the same on every architecture (fused
		// multiply-adds may change the last bits), so recorded timelines compare exactly.
		s.rate, s.hasRate = math.Round(slope*ru.per.Seconds()*1e6)/1e6, true
		s.setHot(ru.beyond(s.rate, s.cond), now)
	case kindStale:
		s.lastGood, s.lastErr = now, nil
		s.setHot(false, now)
	}
	return e.settle(s, now, out)
}

// beyond says whether v is on the alarming side: past the threshold while the condition is off, past the
// clear level (hysteresis) while it is on.
func (r *rule) beyond(v float64, on bool) bool {
	lim := r.threshold
	if on {
		lim = r.clear
	}
	if r.up {
		return v > lim
	}
	return v < lim
}

func (s *series) setHot(hot bool, at time.Time) {
	if hot != s.hot {
		s.hot, s.since = hot, at
	}
}

// staleRef is the instant staleness counts from.
func (s *series) staleRef() time.Time {
	if !s.lastGood.IsZero() {
		return s.lastGood
	}
	return s.born
}

func (e *Engine) checkStale(s *series, now time.Time, out []contract.Alarm) []contract.Alarm {
	if due := s.staleRef().Add(s.r.stale); !s.hot && !now.Before(due) {
		s.hot, s.since = true, due
	}
	return e.settle(s, now, out)
}

// settle moves the debounced condition to the raw one once the delay has passed, and makes the transition.
func (e *Engine) settle(s *series, now time.Time, out []contract.Alarm) []contract.Alarm {
	if s.hot == s.cond {
		return out
	}
	d := s.r.forD
	if s.cond {
		d = s.r.clearFor
	}
	if now.Sub(s.since) < d {
		return out
	}
	s.cond = s.hot
	if s.cond {
		return e.raise(s, now, out)
	}
	return e.conditionCleared(s, now, out)
}

func (e *Engine) raise(s *series, now time.Time, out []contract.Alarm) []contract.Alarm {
	if s.a.State == contract.Active {
		// A latched alarm whose condition came back before anyone acknowledged it: still the same alarm.
		s.condCleared = false
		return out
	}
	s.a.State, s.a.Acked, s.a.AckedBy, s.a.Since = contract.Active, false, "", now
	s.a.Episode = 0 // a new active period: its first published transition names it (emit)
	e.setActive(s.r, +1)
	e.describe(s, now)
	return e.emit(s, contract.EventRaise, now, false, out)
}

func (e *Engine) conditionCleared(s *series, now time.Time, out []contract.Alarm) []contract.Alarm {
	if s.a.State != contract.Active {
		return out
	}
	if s.r.latch && !s.a.Acked {
		s.condCleared = true
		e.describe(s, now)
		return e.emit(s, contract.EventUpdate, now, false, out)
	}
	return e.clear(s, now, false, out)
}

// clear returns an active alarm to cleared; command says an operator's command caused it (so it is
// published even while shelved).
func (e *Engine) clear(s *series, now time.Time, command bool, out []contract.Alarm) []contract.Alarm {
	s.a.State, s.a.Since, s.condCleared = contract.Cleared, now, false
	e.setActive(s.r, -1)
	e.describe(s, now)
	return e.emit(s, contract.EventClear, now, command, out)
}

func (e *Engine) setActive(r *rule, d int) {
	before := r.active
	r.active += d
	if (before == 0) != (r.active == 0) {
		e.dirty = true
	}
}

// emit hands out the next seq and appends the alarm. While an alarm is shelved, changes caused by readings
// are kept but not published (command is false); the unshelve transition then carries the current state.
func (e *Engine) emit(s *series, event string, now time.Time, command bool, out []contract.Alarm) []contract.Alarm {
	if !command && s.a.ShelvedUntil != nil {
		return out
	}
	e.seq++
	s.a.Event, s.a.Seq, s.a.Time = event, e.seq, now
	if s.a.State == contract.Active && s.a.Episode == 0 {
		// Normally the raise; the unshelve when the alarm rose while it was shelved.
		s.a.Episode = e.seq
	}
	s.published = true
	return append(out, s.a)
}

// describe refreshes the alarm's value and message for a transition.
func (e *Engine) describe(s *series, now time.Time) {
	switch s.r.kind {
	case kindLevel, kindState:
		if s.hasValue {
			s.a.Value = contract.Float(s.value)
		}
	case kindRate:
		if s.hasRate {
			s.a.Value = contract.Float(s.rate)
		}
	case kindStale:
		s.a.Value = contract.Float(now.Sub(s.staleRef()).Seconds())
	}
	// A restored alarm has no value yet: keep the message it had rather than describe "0 °C".
	fresh := s.hasValue
	switch s.r.kind {
	case kindRate:
		fresh = s.hasRate
	case kindStale, kindComposite:
		fresh = true
	}
	if fresh || s.base == "" {
		s.base = e.message(s, now)
	}
	s.a.Message = s.base
}

// evalComposites re-evaluates every composite, innermost first, so a composite raises in the same call as
// its last input.
func (e *Engine) evalComposites(now time.Time, out []contract.Alarm) []contract.Alarm {
	for e.dirty {
		e.dirty = false
		for _, r := range e.composites {
			hot := r.all
			for _, ref := range r.refs {
				if r.all && ref.active == 0 {
					hot = false
					break
				}
				if !r.all && ref.active > 0 {
					hot = true
					break
				}
			}
			r.comp.setHot(hot, now)
			out = e.settle(r.comp, now, out)
		}
	}
	return out
}

// Tick advances time without a reading: it raises and clears alarms whose `for`/`clear_for` delay has
// passed, raises staleness alarms, ends expired shelves, and appends the transitions to out. The agent
// calls it periodically (or at Next); it costs one pass over all alarms.
func (e *Engine) Tick(now time.Time, out []contract.Alarm) []contract.Alarm {
	out = e.begin(now, out)
	for _, s := range e.all {
		if s.a.ShelvedUntil != nil && !now.Before(*s.a.ShelvedUntil) {
			out = e.unshelve(s, now, "shelve expired", out)
		}
		if s.r.kind == kindComposite {
			continue
		}
		if s.r.kind == kindStale {
			out = e.checkStale(s, now, out)
		} else {
			out = e.settle(s, now, out)
		}
	}
	e.dirty = true
	return e.evalComposites(now, out)
}

// Next returns the earliest instant at which Tick has something to do (a delay ending, a sensor becoming
// stale, a shelve expiring), or the zero time if nothing is pending. Replays tick exactly there; the agent
// may use it to sleep no longer than needed.
func (e *Engine) Next() time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, s := range e.all {
		if s.a.ShelvedUntil != nil {
			consider(*s.a.ShelvedUntil)
		}
		if s.hot != s.cond {
			d := s.r.forD
			if s.cond {
				d = s.r.clearFor
			}
			consider(s.since.Add(d))
		} else if s.r.kind == kindStale && !s.hot && e.started {
			consider(s.staleRef().Add(s.r.stale))
		}
	}
	return next
}
