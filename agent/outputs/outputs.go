package outputs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/promtext"
)

// Spec is one configured output, checked.
type Spec struct {
	Output *driver.Output
	// Bus is the configured bus it names, or nil.
	Bus  *driver.Bus
	Type *driver.OutputType
	Info driver.OutputInfo
	// Role is sounder, beacon or "".
	Role string
	// Timeout bounds one switching.
	Timeout time.Duration
}

// Options configure a Bank.
type Options struct {
	Gateway, Site string
	DryRun        bool
	Log           *slog.Logger
	// Emit receives every action event; it is called from the outputs' goroutines, concurrently.
	Emit func(a *contract.Action)
}

// Retry bounds for an output that cannot be opened or switched.
const (
	retryBase = time.Second
	retryMax  = 30 * time.Second
)

// Bank is the running outputs.
type Bank struct {
	opt    Options
	log    *slog.Logger
	outs   []*out
	byID   map[string]*out
	dryRun atomic.Bool
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// wish is what the actions (or a test) want of an output.
type wish struct {
	on    bool
	by    string
	cause contract.Alarm
	test  bool
}

type out struct {
	b    *Bank
	spec Spec
	log  *slog.Logger
	wake chan struct{}

	mu        sync.Mutex
	want      wish      // what the actions want
	testUntil time.Time // an operator test holds the output on until then
	testBy    string
	testRes   chan contract.Action
	applied   bool // the state the device was last switched to successfully
	reported  bool // in dry run: the state last reported (what the device would be in)
	ok        bool // the last switching succeeded
	opened    bool
	since     time.Time
	last      contract.Action
	lastTook  time.Duration
	switches  uint64
	failures  uint64
	openErr   string
}

// Start opens every output on a goroutine of its own and returns at once.
func Start(specs []Spec, opt Options) *Bank {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Emit == nil {
		opt.Emit = func(*contract.Action) {}
	}
	b := &Bank{opt: opt, log: opt.Log, byID: map[string]*out{}}
	b.dryRun.Store(opt.DryRun)
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	for _, s := range specs {
		o := &out{b: b, spec: s, wake: make(chan struct{}, 1), ok: true, log: b.log.With("output", s.Output.ID)}
		b.outs = append(b.outs, o)
		b.byID[s.Output.ID] = o
		b.wg.Add(1)
		go func() { defer b.wg.Done(); o.run(ctx) }()
	}
	return b
}

// Close stops the goroutines and closes the devices. Outputs are left as they are (a GPIO line is
// released: a relay energized while normal drops, as on a dead gateway).
func (b *Bank) Close() {
	if b == nil {
		return
	}
	b.cancel()
	b.wg.Wait()
}

// SetDryRun switches dry run on or off (a reloaded config). Entering dry run, what is reported starts from
// the devices' states; leaving it, the devices are switched to what is wanted.
func (b *Bank) SetDryRun(v bool) {
	if b.dryRun.Load() == v {
		return
	}
	for _, o := range b.outs {
		o.mu.Lock()
		o.reported = o.applied
		o.mu.Unlock()
	}
	if b.dryRun.Swap(v) != v {
		for _, o := range b.outs {
			o.poke()
		}
	}
}

// Set asks for an output to be switched; it never blocks. cause is the alarm transition behind it.
func (b *Bank) Set(id string, on bool, cause contract.Alarm) {
	if o := b.want(id, on, cause); o != nil {
		o.poke()
	}
}

// Want records what an output should be without waking it: a reload that also leaves or enters dry run
// records every wish first and then calls SetDryRun, which wakes them all, so no output acts on an old
// wish under the new mode (a beacon reported in dry run and dropped by the reload must not switch on).
func (b *Bank) Want(id string, on bool, cause contract.Alarm) {
	b.want(id, on, cause)
}

func (b *Bank) want(id string, on bool, cause contract.Alarm) *out {
	o := b.byID[id]
	if o == nil {
		return nil
	}
	o.mu.Lock()
	o.want = wish{on: on, by: contract.ByRules, cause: cause}
	o.mu.Unlock()
	return o
}

func (o *out) poke() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// desired is what the output should be now.
func (o *out) desired(now time.Time) wish {
	w := o.want
	if !w.on && now.Before(o.testUntil) {
		return wish{on: true, by: o.testBy, test: true}
	}
	if !w.on && !o.testUntil.IsZero() {
		// A test just ended: switch back off as part of the test.
		return wish{on: false, by: o.testBy, test: true}
	}
	return w
}

func (o *out) run(ctx context.Context) {
	var act driver.Actuator
	defer func() {
		if act != nil {
			act.Close()
		}
	}()
	fails := 0
	var retry <-chan time.Time
	var testEnd <-chan time.Time
	for {
		now := time.Now()
		o.mu.Lock()
		if o.want.on && !o.testUntil.IsZero() {
			o.takenOver()
		}
		w := o.desired(now)
		dry := o.b.dryRun.Load() && !w.test // a test switches for real, even in dry run
		due := w.on != o.applied || !o.ok
		if dry {
			due = w.on != o.reported
		}
		if !o.testUntil.IsZero() && now.Before(o.testUntil) {
			testEnd = time.After(o.testUntil.Sub(now))
		}
		o.mu.Unlock()

		if act == nil && !dry && ctx.Err() == nil && (retry == nil || due) {
			var err error
			act, err = o.open(ctx)
			if err != nil {
				act = nil
				if due {
					o.result(w, false, "", fmt.Errorf("open: %w", err), 0, dry)
				}
				retry = time.After(backoff(fails))
				fails++
				goto wait
			}
			fails = 0
		}
		if due {
			if dry {
				o.result(w, true, "", nil, 0, true)
			} else if act != nil {
				sctx, cancel := context.WithTimeout(ctx, o.spec.Timeout)
				start := time.Now()
				detail, err := o.set(sctx, act, w)
				cancel()
				if ctx.Err() != nil {
					return
				}
				o.result(w, err == nil, detail, err, time.Since(start), false)
				if err != nil {
					retry = time.After(backoff(fails))
					fails++
					goto wait
				}
				fails = 0
			}
			retry = nil
		}
	wait:
		select {
		case <-ctx.Done():
			return
		case <-o.wake:
		case <-retry:
			retry = nil
		case <-testEnd:
			testEnd = nil
		}
	}
}

func backoff(n int) time.Duration { return driver.Backoff(n, retryBase, retryMax) }

func (o *out) open(ctx context.Context) (a driver.Actuator, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("output type %s panicked: %v", o.spec.Type.Name, v)
		}
	}()
	octx, cancel := context.WithTimeout(ctx, o.spec.Timeout)
	defer cancel()
	a, err = o.spec.Type.Open(octx, driver.OutputEnv{Output: o.spec.Output, Bus: o.spec.Bus, Log: o.log})
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		if msg := err.Error(); msg != o.openErr {
			o.openErr = msg
			o.log.Error("cannot open output; retrying with backoff", "err", err)
		}
		return nil, err
	}
	if o.openErr != "" {
		o.log.Info("output open again")
	}
	o.opened, o.openErr = true, ""
	return a, nil
}

func (o *out) set(ctx context.Context, act driver.Actuator, w wish) (detail string, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("output type %s panicked: %v", o.spec.Type.Name, v)
		}
	}()
	c := driver.Cause{By: w.by, Gateway: o.b.opt.Gateway, Site: o.b.opt.Site, Alarm: w.cause.Key, Rule: w.cause.Rule,
		Sensor: w.cause.Sensor, Channel: w.cause.Channel, Severity: w.cause.Severity, AlarmState: w.cause.State,
		Event: w.cause.Event, Message: w.cause.Message, Unit: w.cause.Unit, Seq: w.cause.Seq, Episode: w.cause.Episode,
		Time: w.cause.Time}
	if w.cause.Value != nil {
		c.Value = strconv.FormatFloat(*w.cause.Value, 'f', -1, 64)
	}
	detail, err = act.Set(ctx, w.on, c)
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no answer within %s: %w", o.spec.Timeout, err)
	}
	return detail, err
}

// result records a switching and emits its action event.
func (o *out) result(w wish, ok bool, detail string, err error, took time.Duration, dry bool) {
	now := time.Now()
	a := contract.Action{Gateway: o.b.opt.Gateway, Site: o.b.opt.Site, ID: o.spec.Output.ID + "/" + strconv.FormatInt(now.UnixNano(), 10),
		Output: o.spec.Output.ID, Type: o.spec.Output.Type, Role: o.spec.Role, State: contract.OutputOff,
		Detail: detail, Took: took, DryRun: dry, By: w.by, Time: now}
	if w.on {
		a.State = contract.OutputOn
	}
	switch {
	case dry:
		a.Result = contract.ResultDryRun
		a.Detail = "would switch " + o.spec.Info.Describe
	case ok:
		a.Result = contract.ResultOK
	default:
		a.Result, a.Error = contract.ResultFailed, err.Error()
	}
	if c := w.cause; c.Key != "" {
		a.Alarm, a.Rule, a.Severity, a.AlarmSeq, a.Episode = c.Key, c.Rule, c.Severity, c.Seq, c.Episode
		a.Latency = now.Sub(c.Time)
	}
	a.Message = contract.ActionMessage(&a)

	o.mu.Lock()
	o.last, o.lastTook = a, took
	switch {
	case dry:
		if o.reported != w.on {
			o.since = now
		}
		o.reported = w.on
		o.switches++
	case ok:
		if o.applied != w.on {
			o.since = now
		}
		o.applied, o.ok = w.on, true
		o.switches++
	default:
		o.ok = false
		o.failures++
	}
	var testRes chan contract.Action
	if w.test {
		testRes = o.testRes
		if !w.on && (ok || dry) {
			o.testUntil, o.testBy, o.testRes = time.Time{}, "", nil // the test is over
		}
	}
	o.mu.Unlock()

	if ok || dry {
		o.log.Info("output "+a.State, "result", a.Result, "by", a.By, "alarm", a.Alarm, "took", took, "detail", a.Detail)
	} else {
		o.log.Error("output "+a.State+" failed; retrying while wanted", "by", a.By, "alarm", a.Alarm, "err", err)
	}
	o.b.opt.Emit(&a)
	if testRes != nil {
		select {
		case testRes <- a:
		default:
		}
	}
}

// takenOver ends a test because the actions switched the output on meanwhile: they own it now, and the
// test must not switch it off. Called with mu held.
func (o *out) takenOver() {
	a := contract.Action{Output: o.spec.Output.ID, State: contract.OutputOn, Result: contract.ResultFailed,
		Error: fmt.Sprintf("the actions switched it on for %s during the test; it stays on and the test ends", o.want.cause.Key)}
	select {
	case o.testRes <- a:
	default:
	}
	o.testUntil, o.testBy, o.testRes = time.Time{}, "", nil
}

// Test errors.
var (
	ErrUnknownOutput = errors.New("no such output")
	ErrBusy          = errors.New("output busy")
)

// MaxTest bounds an output test.
const MaxTest = time.Minute

// Test switches an output on for d and back off, as an operator's test (by names who asked), and returns
// the two action events. It refuses an output that has no off (it would fire a command it cannot take
// back), one that the actions hold on (the test would end by switching off a real alarm's output), and
// one already under test.
func (b *Bank) Test(ctx context.Context, id string, d time.Duration, by string) ([]contract.Action, error) {
	o := b.byID[id]
	if o == nil {
		names := make([]string, 0, len(b.outs))
		for _, x := range b.outs {
			names = append(names, x.spec.Output.ID)
		}
		return nil, fmt.Errorf("%w %q (outputs: %s)", ErrUnknownOutput, id, strings.Join(names, ", "))
	}
	if o.spec.Info.OneShot {
		return nil, fmt.Errorf("%s has no off (%s): a test would fire a command it cannot take back; try it by hand", id, o.spec.Info.Describe)
	}
	if d <= 0 || d > MaxTest {
		return nil, fmt.Errorf("test duration %s: use more than 0 and at most %s", d, MaxTest)
	}
	res := make(chan contract.Action, 4)
	o.mu.Lock()
	switch {
	case o.want.on:
		o.mu.Unlock()
		return nil, fmt.Errorf("%w: %s is on for %s; a test would end by switching it off", ErrBusy, id, o.want.cause.Key)
	case !o.testUntil.IsZero():
		o.mu.Unlock()
		return nil, fmt.Errorf("%w: %s is being tested by %s", ErrBusy, id, o.testBy)
	}
	o.testUntil, o.testBy, o.testRes = time.Now().Add(d), contract.ByTest+":"+by, res
	o.mu.Unlock()
	o.poke()

	var got []contract.Action
	for {
		select {
		case a := <-res:
			got = append(got, a)
			if a.State == contract.OutputOff && a.Result != contract.ResultFailed {
				return got, nil
			}
			if a.State == contract.OutputOn && a.Result == contract.ResultFailed {
				// Give up the test: nothing was switched on, so nothing needs switching off.
				o.mu.Lock()
				if o.testRes == res {
					o.testUntil, o.testBy, o.testRes = time.Time{}, "", nil
					o.ok = true
				}
				o.mu.Unlock()
				o.poke()
				return got, fmt.Errorf("%s: %s", id, a.Error)
			}
		case <-ctx.Done():
			return got, ctx.Err()
		}
	}
}

// State is an output's state for the status page.
type State struct {
	ID, Type, Role, Describe string
	// On is the state the device was last switched to (in dry run: the state last reported).
	On bool
	// Wanted is what the actions (or a test) want.
	Wanted bool
	// OK is false while the last switching failed (it is being retried).
	OK     bool
	DryRun bool
	Since  time.Time
	// Last is the last action event.
	Last               contract.Action
	Switches, Failures uint64
	// OpenErr says why the device cannot be opened, or "".
	OpenErr string
}

// States lists the outputs in config order.
func (b *Bank) States() []State {
	if b == nil {
		return nil
	}
	now := time.Now()
	dry := b.dryRun.Load()
	out := make([]State, 0, len(b.outs))
	for _, o := range b.outs {
		o.mu.Lock()
		w := o.desired(now)
		on := o.applied
		if dry {
			on = o.reported
		}
		out = append(out, State{ID: o.spec.Output.ID, Type: o.spec.Output.Type, Role: o.spec.Role, Describe: o.spec.Info.Describe,
			On: on, Wanted: w.on, OK: o.ok, DryRun: dry, Since: o.since, Last: o.last,
			Switches: o.switches, Failures: o.failures, OpenErr: o.openErr})
		o.mu.Unlock()
	}
	return out
}

// WriteMetrics writes every output's state and counters.
func (b *Bank) WriteMetrics(w *promtext.Writer) {
	if b == nil {
		return
	}
	st := b.States()
	dry := 0.0
	if b.dryRun.Load() {
		dry = 1
	}
	w.One("rackwatch_actions_dry_run", "1 when actions.dry_run is set: outputs are reported, not switched.", promtext.Gauge, dry)
	gauge := func(name, help string, v func(s *State) float64) {
		w.Family(name, help, promtext.Gauge)
		for i := range st {
			w.Sample(name, v(&st[i]), "output", st[i].ID, "type", st[i].Type)
		}
	}
	b01 := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	gauge("rackwatch_output_on", "1 when the output was last switched on (in dry run: would be on).", func(s *State) float64 { return b01(s.On) })
	gauge("rackwatch_output_wanted", "1 when the actions (or a test) want the output on.", func(s *State) float64 { return b01(s.Wanted) })
	gauge("rackwatch_output_ok", "0 while the output's last switching failed (it is retried while wanted) or it cannot be opened.",
		func(s *State) float64 { return b01(s.OK && s.OpenErr == "") })
	gauge("rackwatch_output_last_switch_seconds", "How long the last switching of the output took.", func(s *State) float64 { return s.Last.Took.Seconds() })
	counter := func(name, help string, v func(s *State) uint64) {
		w.Family(name, help, promtext.Counter)
		for i := range st {
			w.Sample(name, float64(v(&st[i])), "output", st[i].ID, "type", st[i].Type)
		}
	}
	counter("rackwatch_output_switches_total", "Switchings of the output that succeeded (or were reported in dry run).", func(s *State) uint64 { return s.Switches })
	counter("rackwatch_output_failures_total", "Switchings of the output that failed.", func(s *State) uint64 { return s.Failures })
}
