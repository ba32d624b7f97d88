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
	// now is the latest instant evaluated.
	now time.Time
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
	every  time.Duration // the sensor's interval, 0 if unknown
	labels map[string]string
	// The latest good value, for differential rules that compare against this channel.
	value float64
	at    time.Time
}

type kind uint8

const (
	kindLevel kind = iota
	kindState
	kindRate
	kindStale
	kindComposite
	kindDiff
	kindBaseline
	kindStuck
)

// byReadings says whether the kind's condition is judged on readings: its delays then complete only on a
// good reading (never on a tick), so time without good data never counts as evidence.
func (k kind) byReadings() bool { return k != kindStale && k != kindComposite }

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
	shelveMax time.Duration // the longest shelve; 0: never shelved
	all       bool          // composite: all (else any)
	refs      []*rule
	// active counts this rule's alarms in state active, for the composites that refer to it.
	active int
	comp   *series // a composite's single alarm
	// series are the rule's alarms (a composite's one), for composites that count them.
	series []*series

	internal bool    // evaluated, never published
	learn    float64 // differential: seconds of the normal offset's time constant (0: none); baseline: the baseline's
	ratio    float64 // baseline
	minRise  float64 // baseline
	stuck    time.Duration
	res      float64 // stuck: resolution
	device   bool    // stale: one alarm per sensor
	against  *Match  // differential
	// refInputs are the inputs against matches; scratch holds their values for the median.
	refInputs []*input
	scratch   []float64
	unless    []*rule
	// Composites with memory.
	atLeast  int
	within   time.Duration
	distinct bool
	sensors  []string // scratch: distinct sensors counted
	// withins are the memories of the composites that refer to this rule: when its alarms stop counting.
	withins []time.Duration
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
	// Evidence: lastGoodAt is the last good reading (reading-driven kinds); broken is set by a bad reading,
	// so that the next good one restarts a pending delay.
	lastGoodAt time.Time
	broken     bool
	// learned is a baseline (above_baseline) or a normal offset (differential), learnedAt its last update.
	learned    float64
	hasLearned bool
	learnedAt  time.Time
	excess     float64 // differential: the difference beyond the normal offset
	ref        float64 // differential: the reference at the last evaluation
	nref       int     // differential: how many sensors made it
	thr        float64 // baseline: the threshold at the last evaluation
	// stuck: the value it has stayed within resolution of, since when.
	stuckAt    float64
	stuckSince time.Time
	// lastActive is when the alarm last was active (its raise or its clear), for composites' memory;
	// raisedMsg what it said when it rose.
	lastActive time.Time
	raisedMsg  string
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
			if r.within > 0 && !slices.Contains(ref.withins, r.within) {
				ref.withins = append(ref.withins, r.within)
			}
		}
	}
	for _, r := range e.rules {
		for _, id := range r.cfg.Unless {
			u := byID[id]
			if u == nil || u == r || u.kind == kindComposite {
				return nil, fmt.Errorf("rules: rule %q: unless %q must name another rule on a sensor channel", r.id, id)
			}
			r.unless = append(r.unless, u)
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
		r.series = []*series{s}
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
	r := &rule{cfg: c, id: c.ID, severity: c.Severity, forD: c.For.D(), clearFor: c.ClearFor.D(), latch: c.Latch,
		internal: c.Internal, shelveMax: c.ShelveLimit()}
	if r.severity == "" {
		r.severity = contract.Warning
	}
	if !reading.ValidID(c.ID) {
		return nil, fmt.Errorf("rules: rule id %q is not valid", c.ID)
	}
	switch c.Kind() {
	case KindComposite:
		r.kind, r.all = kindComposite, len(c.All) > 0
		r.atLeast, r.within, r.distinct = c.AtLeast, c.Within.D(), c.DistinctSensors
		return r, nil
	case KindStuck:
		r.kind, r.stuck = kindStuck, c.Stuck.D()
		if c.Resolution != nil {
			r.res = *c.Resolution
		}
	case KindBaseline:
		b := c.AboveBaseline
		r.kind, r.up, r.ratio, r.minRise, r.learn = kindBaseline, true, b.Ratio, b.MinRise, b.Learn.D().Seconds()
		if r.learn <= 0 {
			r.learn = DefaultBaselineLearn.D().Seconds()
		}
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
		r.kind, r.stale, r.device = kindStale, c.Stale.D(), c.Device
	case KindState:
		r.kind, r.up = kindState, *c.State
	default:
		r.kind = kindLevel
		if c.Against != nil {
			r.kind, r.against, r.learn = kindDiff, c.Against, c.Learn.D().Seconds()
		}
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
	if now.After(e.now) {
		e.now = now
	}
	if !e.started {
		e.started, e.epoch = true, now
		for _, s := range e.all {
			if s.born.IsZero() {
				s.born = now
			}
			// A restored shelve is held to its rule's limit from the first instant seen.
			out = e.endShelve(s, now, out)
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
	labels := e.labels(sensor)
	in := &input{sensor: sensor, ch: ch, labels: labels}
	if sc := e.sensors[sensor]; sc != nil {
		in.every = sc.Every
	}
	var lab map[string]string
	for _, r := range e.rules {
		if r.kind == kindDiff && r.against.Matches(sensor, ch, labels) {
			r.refInputs = append(r.refInputs, in)
			r.scratch = make([]float64, 0, len(r.refInputs))
		}
		if r.kind == kindComposite || !r.cfg.Match.Matches(sensor, ch, labels) {
			continue
		}
		if lab == nil {
			lab = make(map[string]string, len(labels))
			for k, v := range labels {
				lab[k] = v
			}
		}
		if r.device {
			in.series = append(in.series, e.deviceSeries(r, sensor, lab, now))
			continue
		}
		s := &series{r: r, in: in, unit: e.unit(sensor, ch), born: now}
		s.a = contract.Alarm{Gateway: e.opt.Gateway, Site: e.opt.Site, Key: r.id + "/" + sensor + "/" + string(ch),
			Rule: r.id, Sensor: sensor, Channel: string(ch), Severity: r.severity, State: contract.Cleared, Acked: true,
			Unit: s.unit, Labels: lab}
		switch r.kind {
		case kindLevel, kindDiff:
			s.a.Threshold = contract.Float(r.threshold)
		case kindRate:
			s.a.Threshold = contract.Float(r.threshold)
			s.a.Unit = rateUnit(s.unit, r.perName)
			s.win = newWindow(r.window, in.every)
		case kindStale:
			s.a.Threshold = contract.Float(r.stale.Seconds())
			s.a.Unit = "s"
		}
		e.addSeries(s)
		in.series = append(in.series, s)
	}
	e.inputs[inputKey{sensor, ch}] = in
	e.bySensor[sensor] = append(e.bySensor[sensor], in)
	return in
}

// DeviceChannel is the channel name of a device-level staleness alarm: `<rule>/<sensor>/device`.
const DeviceChannel = "device"

// deviceSeries returns (building it the first time) the one staleness alarm of a device rule for sensor.
func (e *Engine) deviceSeries(r *rule, sensor string, lab map[string]string, now time.Time) *series {
	key := r.id + "/" + sensor + "/" + DeviceChannel
	if s := e.byKey[key]; s != nil {
		return s
	}
	s := &series{r: r, born: now, unit: "s"}
	s.a = contract.Alarm{Gateway: e.opt.Gateway, Site: e.opt.Site, Key: key, Rule: r.id, Sensor: sensor,
		Channel: DeviceChannel, Severity: r.severity, State: contract.Cleared, Acked: true, Unit: "s", Labels: lab,
		Threshold: contract.Float(r.stale.Seconds())}
	e.addSeries(s)
	return s
}

func (e *Engine) addSeries(s *series) {
	e.byKey[s.a.Key] = s
	e.all = append(e.all, s)
	s.r.series = append(s.r.series, s)
}

// Eval feeds one reading (r.At is "now") and appends the transitions it causes to out. A bad reading
// changes no level, state or rate alarm (it has no value) but feeds staleness with its error, and stops
// a pending delay from completing until good readings have backed it again. A bad reading without a
// channel stands for every channel of its sensor (a whole device that failed).
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
		if r.Good() {
			in.value, in.at = r.Value, r.At
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

// gap is the longest time between two good readings that still counts as continuous evidence: three
// reading intervals and at least 30 s (a configured interval can be optimistic), or a minute for a sensor
// whose interval is unknown.
func gap(in *input) time.Duration {
	if in != nil && in.every > 0 {
		return max(3*in.every, 30*time.Second)
	}
	return time.Minute
}

// feed applies one reading to one alarm.
func (e *Engine) feed(s *series, r *reading.Reading, out []contract.Alarm) []contract.Alarm {
	ru := s.r
	now := r.At
	if !r.Good() {
		if ru.kind == kindStale {
			s.lastErr = r.Err
			return e.checkStale(s, now, out)
		}
		s.broken = true
		return out
	}
	v := r.Value
	if ru.kind == kindStale {
		s.value, s.hasValue = v, true
		s.lastGood, s.lastErr = now, nil
		s.setHot(false, now)
		return e.settle(s, now, true, out)
	}
	// A bad reading or a gap since the last good one breaks the evidence: a pending delay starts again.
	restart := s.broken || (!s.lastGoodAt.IsZero() && now.Sub(s.lastGoodAt) > gap(s.in))
	s.broken, s.lastGoodAt = false, now
	s.value, s.hasValue = v, true
	var hot bool
	switch ru.kind {
	case kindLevel:
		hot = ru.beyond(v, s.hot)
	case kindState:
		hot = (v >= 0.5) == ru.up
	case kindRate:
		t := e.ns(now)
		s.win.add(t, v)
		slope, ok := s.win.rate(t)
		if !ok {
			// Too few readings in the window to say: the alarm keeps its condition.
			return out
		}
		// Six decimals: far below any sensor's resolution, and the same on every architecture (fused
		// multiply-adds may change the last bits), so recorded timelines compare exactly.
		s.rate, s.hasRate = math.Round(slope*ru.per.Seconds()*1e6)/1e6, true
		hot = ru.beyond(s.rate, s.hot)
	case kindDiff:
		ref, ok := e.reference(s, now)
		if !ok {
			return out // nothing fresh to compare with: hold
		}
		hot = e.differential(s, v-ref, now)
	case kindBaseline:
		hot = e.baseline(s, v, now)
	case kindStuck:
		if s.stuckSince.IsZero() || math.Abs(v-s.stuckAt) > ru.res || restart {
			s.stuckAt, s.stuckSince = v, now
		}
		hot = now.Sub(s.stuckSince) >= ru.stuck
	}
	if hot && len(ru.unless) > 0 && e.masked(s) {
		hot = false
	}
	s.setHot(hot, now)
	if restart && s.hot != s.cond {
		s.since = now
	}
	return e.settle(s, now, true, out)
}

// reference is the median of the latest good values of the other sensors' channels a differential rule
// compares against, counting only those fresh enough to be compared (within their sensor's gap).
func (e *Engine) reference(s *series, now time.Time) (float64, bool) {
	r := s.r
	xs := r.scratch[:0]
	for _, in := range r.refInputs {
		if in.sensor == s.in.sensor || in.at.IsZero() || now.Sub(in.at) > gap(in) || in.at.After(now) {
			continue
		}
		xs = append(xs, in.value)
	}
	if len(xs) == 0 {
		return 0, false
	}
	s.ref, s.nref = median(xs), len(xs)
	return s.ref, true
}

// alpha is the weight of a new sample in an exponentially weighted mean with time constant tau seconds,
// dt after the last: the gap counts for at most a minute, so a gateway that was off does not jump.
func alpha(dt time.Duration, tau float64) float64 {
	dt = min(max(dt, 0), time.Minute)
	return 1 - math.Exp(-dt.Seconds()/tau)
}

// differential judges a difference d against the learned normal offset and learns the offset while the
// difference is normal.
func (e *Engine) differential(s *series, d float64, now time.Time) bool {
	r := s.r
	if r.learn > 0 && !s.hasLearned {
		s.learned, s.hasLearned, s.learnedAt = d, true, now
	}
	excess := d
	if r.learn > 0 {
		excess = d - s.learned
	}
	s.excess = excess
	hot := r.beyond(excess, s.hot)
	// Learn only from normal data: not during an excursion, nor past half the threshold (a slow rise must
	// not teach the baseline to follow it).
	if r.learn > 0 && !hot && !s.cond && !r.beyond(2*excess, false) {
		s.learned += alpha(now.Sub(s.learnedAt), r.learn) * (d - s.learned)
	}
	if r.learn > 0 {
		s.learnedAt = now
	}
	return hot
}

// baseline judges v against its own learned baseline: above both ratio × baseline and baseline +
// min_rise raises; back below half way between the baseline and that threshold clears. The baseline
// learns only while v is in the lower half, falling eight times faster than it rises (sensor drift and a
// high first value are corrected quickly; a slow build-up of gas is not learned).
func (e *Engine) baseline(s *series, v float64, now time.Time) bool {
	r := s.r
	if !s.hasLearned {
		s.learned, s.hasLearned, s.learnedAt = v, true, now
	}
	b := s.learned
	s.thr = max(b*r.ratio, b+r.minRise)
	half := b + (s.thr-b)/2
	var hot bool
	if s.hot {
		hot = v > half
	} else {
		hot = v > s.thr
	}
	if !hot && !s.cond && v <= half {
		tau := r.learn
		if v < b {
			tau /= 8
		}
		s.learned += alpha(now.Sub(s.learnedAt), tau) * (v - b)
	}
	s.learnedAt = now
	return hot
}

// masked says whether an unless rule has an active alarm on this alarm's sensor.
func (e *Engine) masked(s *series) bool {
	for _, u := range s.r.unless {
		if u.active == 0 {
			continue
		}
		for _, us := range u.series {
			if us.a.State == contract.Active && us.a.Sensor == s.a.Sensor {
				return true
			}
		}
	}
	return false
}

// beyond says whether v is on the alarming side: past the threshold while the condition is off, past the
// clear level (hysteresis) while it is on, or on its way on (a `for` running).
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
	return e.settle(s, now, true, out)
}

// settle moves the debounced condition to the raw one once the delay has passed, and makes the transition.
// byEvidence is false for a tick: a reading-driven alarm's delay then waits for the good reading that
// confirms it.
func (e *Engine) settle(s *series, now time.Time, byEvidence bool, out []contract.Alarm) []contract.Alarm {
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
	if !byEvidence && s.r.kind.byReadings() {
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
	s.lastActive = now
	e.setActive(s.r, +1)
	e.describe(s, now)
	s.raisedMsg = s.base
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
	s.lastActive = now
	e.setActive(s.r, -1)
	e.describe(s, now)
	return e.emit(s, contract.EventClear, now, command, out)
}

func (e *Engine) setActive(r *rule, d int) {
	r.active += d
	// Any change may matter: composites count alarms and sensors, not only whether any is active.
	e.dirty = true
}

// emit hands out the next seq and appends the alarm. While an alarm is shelved, a change caused by readings
// (command is false) is published as a suppressed event carrying the alarm's true state: the central side
// and the status page still see it, nobody is paged and no output is driven; the unshelve transition then
// publishes the current state again. Internal rules' alarms are never published.
func (e *Engine) emit(s *series, event string, now time.Time, command bool, out []contract.Alarm) []contract.Alarm {
	if s.r.internal {
		return out
	}
	if !command && s.a.ShelvedUntil != nil {
		event = contract.EventSuppressed
		s.a.Message += "; suppressed: shelved" + byWhom(s.a.ShelvedBy) + " until " + s.a.ShelvedUntil.UTC().Format(contract.TimeFormat)
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

func byWhom(op string) string {
	if op == "" {
		return "" // shelved before the gateway recorded who did
	}
	return " by " + op
}

// describe refreshes the alarm's value and message for a transition.
func (e *Engine) describe(s *series, now time.Time) {
	switch s.r.kind {
	case kindLevel, kindState, kindStuck:
		if s.hasValue {
			s.a.Value = contract.Float(s.value)
		}
	case kindDiff:
		if s.hasValue {
			s.a.Value = contract.Float(math.Round(s.excess*1e6) / 1e6)
		}
	case kindBaseline:
		if s.hasValue {
			s.a.Value = contract.Float(s.value)
			s.a.Threshold = contract.Float(math.Round(s.thr*1e6) / 1e6)
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

// counts says whether an alarm counts for a composite with memory within: active, or active less than
// within ago.
func (s *series) counts(now time.Time, within time.Duration) bool {
	if s.a.State == contract.Active {
		return true
	}
	return within > 0 && !s.lastActive.IsZero() && now.Sub(s.lastActive) < within
}

// ruleCounts says whether any alarm of ref counts.
func (ref *rule) counts(now time.Time, within time.Duration) bool {
	if ref.active > 0 {
		return true
	}
	if within == 0 {
		return false
	}
	for _, s := range ref.series {
		if s.counts(now, within) {
			return true
		}
	}
	return false
}

// compositeHot evaluates a composite's condition at now.
func (e *Engine) compositeHot(r *rule, now time.Time) bool {
	if r.all {
		for _, ref := range r.refs {
			if !ref.counts(now, r.within) {
				return false
			}
		}
		return true
	}
	need := max(1, r.atLeast)
	if !r.distinct {
		n := 0
		for _, ref := range r.refs {
			if ref.counts(now, r.within) {
				n++
				if n >= need {
					return true
				}
			}
		}
		return false
	}
	// Distinct sensors: one sensor behind two of the listed rules (a gas sensor's VOC and H2) is one
	// piece of evidence, not two. A composite in the list stands for itself.
	r.sensors = r.sensors[:0]
	add := func(name string) {
		if !slices.Contains(r.sensors, name) {
			r.sensors = append(r.sensors, name)
		}
	}
	for _, ref := range r.refs {
		if ref.kind == kindComposite {
			if ref.comp.counts(now, r.within) {
				add(ref.id)
			}
			continue
		}
		for _, s := range ref.series {
			if s.counts(now, r.within) {
				add(s.a.Sensor)
			}
		}
	}
	return len(r.sensors) >= need
}

// evalComposites re-evaluates every composite, innermost first, so a composite raises in the same call as
// its last input.
func (e *Engine) evalComposites(now time.Time, out []contract.Alarm) []contract.Alarm {
	for e.dirty {
		e.dirty = false
		for _, r := range e.composites {
			r.comp.setHot(e.compositeHot(r, now), now)
			out = e.settle(r.comp, now, true, out)
		}
	}
	return out
}

// Tick advances time without a reading: it raises and clears composites and staleness alarms whose
// delay has passed, lets composites' memories expire, ends expired shelves, and appends the transitions
// to out. The delays of alarms judged on readings complete only on a good reading, never on a tick. The
// agent calls it periodically (or at Next); it costs one pass over all alarms.
func (e *Engine) Tick(now time.Time, out []contract.Alarm) []contract.Alarm {
	out = e.begin(now, out)
	for _, s := range e.all {
		if s.a.ShelvedUntil != nil {
			out = e.endShelve(s, now, out)
		}
		if s.r.kind == kindStale {
			out = e.checkStale(s, now, out)
		}
	}
	e.dirty = true
	return e.evalComposites(now, out)
}

// Next returns the earliest instant at which Tick has something to do (a composite's delay ending or
// memory expiring, a sensor becoming stale, a shelve expiring), or the zero time if nothing is pending.
// Replays tick exactly there; the agent may use it to sleep no longer than needed.
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
		if s.hot != s.cond && !s.r.kind.byReadings() {
			d := s.r.forD
			if s.cond {
				d = s.r.clearFor
			}
			consider(s.since.Add(d))
		} else if s.r.kind == kindStale && !s.hot && e.started {
			consider(s.staleRef().Add(s.r.stale))
		}
		if s.a.State != contract.Active && !s.lastActive.IsZero() {
			for _, w := range s.r.withins {
				if t := s.lastActive.Add(w); t.After(e.now) {
					consider(t)
				}
			}
		}
	}
	return next
}
