package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rackwatch/rackwatch/agent/buildinfo"
	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/delivery"
	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/promtext"
	"github.com/rackwatch/rackwatch/agent/ratelog"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/rules"
	"github.com/rackwatch/rackwatch/agent/schedule"
	"github.com/rackwatch/rackwatch/agent/store"
)

// Outbox takes what the rules loop hands over: alarm transitions and readings.
type Outbox interface {
	// Transitions returns once the transitions are durable; delivery continues in the background.
	Transitions(as []contract.Alarm) error
	// Reading hands over one reading for publishing, written as f says (unit, resolution, state names; f
	// does not change afterwards); it never blocks.
	Reading(r *reading.Reading, f *reading.Format)
}

// Inbox brings operator commands in and takes their answers out.
type Inbox interface {
	// Commands delivers the commands received, unparsed; it is closed when the link closes.
	Commands() <-chan delivery.Inbound
	// Answer publishes a command's result on …/cmd/result.
	Answer(r contract.Result)
}

// Monitor says how the delivery path is doing, for /healthz and /metrics.
type Monitor interface {
	Health() error
	WriteMetrics(w *promtext.Writer)
}

// Link is an opened delivery path, in the pieces Run uses.
type Link struct {
	Outbox
	Inbox
	Monitor
	// Flush pushes the backlog to every reachable broker until ctx ends (the last gasp).
	Flush func(ctx context.Context) error
	// Close delivers what it can before ctx ends, says "offline" and disconnects.
	Close func(ctx context.Context) error
	// Broker is the embedded broker's address (host:port), or "" when there is none.
	Broker string
	// Durable says why transitions handed over are not written to disk now (they are delivered from
	// memory meanwhile), or nil when they are.
	Durable func() error
}

// complete fills what a Link leaves out: no commands, always healthy, nothing to flush or close.
func (l *Link) complete() {
	if l.Inbox == nil {
		l.Inbox = noInbox{}
	}
	if l.Monitor == nil {
		l.Monitor = noMonitor{}
	}
	if l.Flush == nil {
		l.Flush = func(context.Context) error { return nil }
	}
	if l.Close == nil {
		l.Close = func(context.Context) error { return nil }
	}
	if l.Durable == nil {
		l.Durable = func() error { return nil }
	}
}

type noInbox struct{}

func (noInbox) Commands() <-chan delivery.Inbound { return nil }
func (noInbox) Answer(contract.Result)            {}

type noMonitor struct{}

func (noMonitor) Health() error                 { return nil }
func (noMonitor) WriteMetrics(*promtext.Writer) {}

// Static is an Opener that hands back link as it is: for tests and tools that take the transitions
// themselves. The parts link leaves nil do nothing.
func Static(link *Link) Opener {
	return func(context.Context, *config.Config, []contract.Alarm, *slog.Logger) (*Link, error) { return link, nil }
}

// Opener opens the delivery path. restored are the alarm states restored at start, so that brokers that
// lost their retained messages get them again.
type Opener func(ctx context.Context, cfg *config.Config, restored []contract.Alarm, log *slog.Logger) (*Link, error)

// Ready says where a running agent can be reached.
type Ready struct {
	// Broker is the embedded broker's address, or "".
	Broker string
	// HTTP is the address of the status page, /healthz and /metrics, or "".
	HTTP string
}

// Options adjust Run; the zero value is what `rackwatch run` uses.
type Options struct {
	Log *slog.Logger
	// Open opens the delivery path. Nil means MQTT delivery as configured (OpenMQTT).
	Open Opener
	// Ready, when set, is called once the agent runs.
	Ready func(Ready)
	// Reload delivers new, already checked plans (SIGHUP). Sensors and rules are replaced in place; changes
	// to gateway, mqtt or journal need a restart and are logged as such.
	Reload <-chan *Plan
	// OnTransition, when set, sees every transition after it is durable (the demo prints them). It runs on
	// the agent's loop and must not block.
	OnTransition func(a *contract.Alarm)
	// Tick is how often time-based rules (for, stale, shelve expiry) are evaluated; default 250ms.
	Tick time.Duration
	// Alive, when set, is called by the agent's loop at every tick with what it sees. A loop that stops
	// turning stops calling it: `rackwatch run` feeds the service manager's watchdog from it. It runs on
	// the loop and must not block.
	Alive func(Vitals)
}

// ShutdownGrace bounds the last gasp at shutdown: delivering the backlog and saying "offline".
const ShutdownGrace = 10 * time.Second

// Run runs the agent until ctx is done. It returns an error only if the agent cannot start (state_dir not
// writable, broker address in use, …); failures while running are logged, reported as bad readings, and
// visible on /healthz and /metrics.
func Run(ctx context.Context, plan *Plan, reg *driver.Registry, opt Options) error {
	cfg := plan.Config
	log := opt.Log
	if log == nil {
		log = slog.Default()
	}
	if opt.Tick <= 0 {
		opt.Tick = 250 * time.Millisecond
	}
	if err := os.MkdirAll(cfg.Gateway.StateDir, 0o750); err != nil {
		return fmt.Errorf("state_dir: %w", err)
	}
	boot, err := loadState(cfg, log)
	if err != nil {
		return err
	}
	a := &runner{log: log, opt: opt, reg: reg, statePath: boot.path, seqPath: boot.seqPath, ratelog: ratelog.New(time.Minute, 0)}
	if err := a.setPlan(plan, &boot.state); err != nil {
		if !errors.Is(err, errRestore) || boot.rebuilt != "" {
			return err
		}
		// The file reads as JSON, but its alarms cannot be restored: damaged all the same.
		if err := boot.rebuild(err.Error(), log); err != nil {
			return err
		}
		if err := a.setPlan(plan, &boot.state); err != nil {
			return err
		}
	}
	if err := a.startCommands(); err != nil {
		return err
	}
	open := opt.Open
	if open == nil {
		open = OpenMQTT
	}
	restored := a.engine.Snapshot().Alarms
	for i := range restored {
		a.round(&restored[i])
	}
	link, err := open(ctx, cfg, restored, log)
	if err != nil {
		return err
	}
	link.complete()
	a.out, a.opened = link, cfg
	a.discover()
	// Now that the journal is ours (a second agent on the same state_dir is refused by its lock), record
	// the gateway this state_dir belongs to, the seq to go on from and a rebuilt state, and create the seq
	// file while the disk has room (it is only rewritten in place later).
	if boot.save {
		a.saveState()
	}
	if err := store.SaveSeq(a.seqPath, a.engine.Seq()); err != nil {
		log.Warn("cannot write the seq file", "err", err)
	}
	a.startActions()
	ready := Ready{Broker: link.Broker}
	if cfg.Gateway.HTTP != "" {
		addr, stop, err := startHTTP(cfg.Gateway.HTTP, a, log) // http.go: a build may leave it out
		if err != nil {
			a.stopActions()
			link.Close(context.Background())
			return err
		}
		defer stop()
		ready.HTTP = addr
	}
	log.Info("rackwatch running", "gateway", cfg.Gateway.ID, "sensors", len(cfg.Sensors), "rules", len(cfg.Rules),
		"brokers", len(cfg.MQTT.Brokers), "embedded_broker", link.Broker, "version", buildinfo.Version)
	if opt.Ready != nil {
		opt.Ready(ready)
	}
	if boot.rebuilt != "" {
		a.commit(a.engine.RaiseSystem(rebuiltAlarm, boot.rebuilt, time.Now(), nil))
	}
	a.checkStorage()
	a.loop(ctx)
	a.stopActions() // before the link closes: outputs still report what they were doing

	closeCtx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
	defer cancel()
	if err := link.Close(closeCtx); err != nil {
		log.Warn("shutdown: not everything was delivered; it stays in the journal for next start", "err", err)
	}
	log.Info("rackwatch stopped")
	return nil
}

// runner is the agent's single loop: only it touches the engine.
type runner struct {
	log       *slog.Logger
	opt       Options
	reg       *driver.Registry
	statePath string
	seqPath   string
	savedAt   time.Time // last save of the alarm state
	out       *Link
	ratelog   *ratelog.Limiter
	cmds      *commands // operators' commands (commands.go)

	// stateErr is why the last save of the alarm state failed (nil when it worked); lastSaveTry is when a
	// failed save was last retried.
	stateErr    error
	lastSaveTry time.Time
	// storageParts names what of the state_dir fails, as the storage alarm last said it ("" when none).
	storageParts string
	checking     bool

	plan   *Plan
	engine *rules.Engine
	sched  *schedule.Scheduler
	trs    []contract.Alarm
	acts   *acting // local actions (act.go); nil when none are configured
	// opened is the config the delivery was opened with: a reload does not change its gateway and mqtt.
	opened *config.Config

	mu sync.Mutex // guards what the HTTP side reads
	// formats says how each channel's values are written (observe.go); the loop reads it without the
	// lock, and takes the lock to change it.
	formats map[string]map[reading.Channel]*reading.Format
	active  map[string]contract.Alarm
	// alarms is every alarm the rules can raise, in its latest state, for /metrics; timeline the last
	// transitions, for the status page.
	alarms   map[string]contract.Alarm
	timeline timeline
	last     map[string]map[reading.Channel]*reading.Reading
	stats    struct{ readings, transitions, journalErrors atomic.Uint64 } // written by the loop, read by /metrics
}

func (a *runner) setPlan(p *Plan, st *rules.State) error {
	cfg := p.Config
	formats := map[string]map[reading.Channel]*reading.Format{}
	last := map[string]map[reading.Channel]*reading.Reading{}
	for i := range cfg.Sensors {
		s := &cfg.Sensors[i]
		formats[s.ID] = map[reading.Channel]*reading.Format{}
		last[s.ID] = map[reading.Channel]*reading.Reading{}
		for _, ci := range p.Channels[s.ID] {
			f := ci.Format()
			formats[s.ID][ci.Channel] = &f
			last[s.ID][ci.Channel] = &reading.Reading{Sensor: s.ID, Channel: ci.Channel, Quality: reading.Bad}
		}
	}
	eng, err := rules.New(cfg.Rules, rules.Options{Gateway: cfg.Gateway.ID, Site: cfg.Gateway.Site, Sensors: p.RuleSensors()})
	if err != nil {
		return err
	}
	if st != nil {
		if err := eng.Restore(*st); err != nil {
			return fmt.Errorf("%w: %w", errRestore, err)
		}
	}
	sched := schedule.New(p.Sensors, p.Buses, p.Channels, a.reg, a.log)
	active := map[string]contract.Alarm{}
	for _, al := range eng.Snapshot().Alarms {
		active[al.Key] = al
	}
	alarms := map[string]contract.Alarm{}
	for _, al := range eng.Alarms(nil) {
		alarms[al.Key] = al
	}
	for k, al := range active {
		alarms[k] = al
	}
	a.mu.Lock()
	a.plan, a.engine, a.sched, a.formats = p, eng, sched, formats
	a.active, a.alarms, a.last = active, alarms, last
	a.mu.Unlock()
	return nil
}

func (a *runner) loop(ctx context.Context) {
	readings := make(chan reading.Reading, 1024)
	// The scheduler runs until stopped for a reload or shutdown; readings it sent before stopping are
	// still evaluated.
	start := func() (stop func()) {
		sctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { a.sched.Run(sctx, readings); close(done) }()
		return func() {
			cancel()
			for {
				select {
				case r := <-readings:
					a.reading(&r)
				case <-done:
					return
				}
			}
		}
	}
	stopScheduler := start()
	defer func() { stopScheduler() }()
	tick := time.NewTicker(a.opt.Tick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-readings:
			a.reading(&r)
		case now := <-tick.C:
			a.commit(a.engine.Tick(now, a.trs[:0]))
			a.actTick(now)
			if a.engine.Learns() && now.Sub(a.savedAt) >= learnedSaveEvery {
				// Learned baselines change without transitions; keep them across a crash too.
				a.saveState()
			}
			a.checkStorage()
			if a.opt.Alive != nil {
				a.opt.Alive(a.vitals(now))
			}
		case c := <-a.out.Commands():
			a.command(c)
		case p := <-a.opt.Reload:
			if why := restartNeeded(a.plan.Config, p.Config); why != "" {
				a.log.Warn("reload: "+why+" changed; that takes a restart. Sensors and rules are reloaded now.", "file", p.Config.File)
			}
			stopScheduler()
			st := a.engine.Snapshot()
			old := a.plan
			if err := a.setPlan(p, &st); err != nil {
				a.log.Error("reload failed; keeping the old config", "err", err)
				a.setPlan(old, &st)
			} else {
				a.log.Info("config reloaded", "sensors", len(p.Config.Sensors), "rules", len(p.Config.Rules))
				a.reloadActions(p)
				a.setOperators(p)
				a.discover()
			}
			stopScheduler = start()
		}
	}
}

// learnedSaveEvery is how often the alarm state is saved for its learned baselines alone.
const learnedSaveEvery = 10 * time.Minute

func (a *runner) reading(r *reading.Reading) {
	a.stats.readings.Add(1)
	a.commit(a.engine.Eval(r, a.trs[:0]))
	if r.Channel != "" {
		a.out.Reading(r, a.format(r.Sensor, r.Channel))
	}
	a.mu.Lock()
	if m := a.last[r.Sensor]; m != nil {
		if l := m[r.Channel]; l != nil {
			*l = *r
		} else if r.Channel != "" {
			cp := *r
			m[r.Channel] = &cp
		}
	}
	a.mu.Unlock()
}

// commit makes transitions durable, then saves the engine's state. The journal comes first: after a crash
// between the two, the journal still holds the transition, and the next start goes on from its seq.
//
// When the state_dir cannot be written, the transitions are delivered all the same (from memory), the
// seq is written in place first (a restart must not hand out a seq already published), and the gateway
// raises its storage alarm.
func (a *runner) commit(trs []contract.Alarm) {
	a.trs = trs[:0]
	if len(trs) == 0 {
		return
	}
	a.act(trs) // outputs first: a relay must not wait for the journal's fsync
	for i := range trs {
		a.round(&trs[i])
	}
	a.stats.transitions.Add(uint64(len(trs)))
	seq := trs[len(trs)-1].Seq
	if a.storageParts != "" || a.stateErr != nil {
		a.saveSeq(seq)
	}
	if err := a.out.Transitions(trs); err != nil {
		a.stats.journalErrors.Add(1)
		a.ratelog.Log(a.log, slog.LevelError, "transitions", "journal: transitions not written to disk; delivering them from memory", "err", err)
	}
	if !a.saveState() {
		a.saveSeq(seq)
	}
	a.mu.Lock()
	for i := range trs {
		t := &trs[i]
		if t.State == contract.Cleared && t.Acked {
			delete(a.active, t.Key)
		} else {
			a.active[t.Key] = *t
		}
		a.alarms[t.Key] = *t
		a.timeline.add(t)
	}
	a.mu.Unlock()
	a.lastGasp(trs)
	for i := range trs {
		t := &trs[i]
		a.log.Info("alarm", "seq", t.Seq, "event", t.Event, "alarm", t.Key, "severity", t.Severity, "state", t.State, "message", t.Message)
		if a.opt.OnTransition != nil {
			a.opt.OnTransition(t)
		}
	}
	a.checkStorage()
}

// saveState saves the engine's state and reports whether it worked.
func (a *runner) saveState() bool {
	a.lastSaveTry = time.Now()
	a.savedAt = a.lastSaveTry
	err := store.Save(a.statePath, a.plan.Config.Gateway.ID, a.engine.Snapshot())
	if err != nil {
		a.ratelog.Log(a.log, slog.LevelError, "state", "saving alarm state", "err", err)
	}
	a.mu.Lock()
	a.stateErr = err
	a.mu.Unlock()
	return err == nil
}

func (a *runner) saveSeq(seq uint64) {
	if err := store.SaveSeq(a.seqPath, seq); err != nil {
		a.ratelog.Log(a.log, slog.LevelError, "seq", "cannot write the seq file either; a restart now could hand out a seq again", "err", err)
	}
}

// durable is the link's Durable (a Link built by hand may leave it out: always durable).
func (a *runner) durable() error {
	if a.out.Durable == nil {
		return nil
	}
	return a.out.Durable()
}

// checkStorage raises the gateway's storage alarm while its state_dir cannot be written (the journal, or
// the alarm state), and clears it once both work again. A failed state save is retried here once a second.
func (a *runner) checkStorage() {
	if a.checking {
		return // the alarm's own transition is being committed
	}
	if a.stateErr != nil && time.Since(a.lastSaveTry) >= time.Second {
		a.saveState()
	}
	var parts []string
	var errs []error
	if err := a.durable(); err != nil {
		parts, errs = append(parts, "journal"), append(errs, err)
	}
	if a.stateErr != nil {
		parts, errs = append(parts, "state"), append(errs, fmt.Errorf("alarm state: %w", a.stateErr))
	}
	what := strings.Join(parts, "+")
	if what == a.storageParts && (what == "") == !a.engine.SystemActive(storageAlarm.What) {
		return
	}
	var trs []contract.Alarm
	now := time.Now()
	if what != "" {
		msg := fmt.Sprintf("gateway %s cannot write its state_dir %s: %v. Alarms are still delivered, from memory; a restart now would lose those not yet written. Free space, or replace the storage.",
			a.plan.Config.Gateway.ID, a.plan.Config.Gateway.StateDir, errors.Join(errs...))
		trs = a.engine.RaiseSystem(storageAlarm, strings.ReplaceAll(msg, "\n", "; "), now, nil)
	} else {
		trs = a.engine.ClearSystem(storageAlarm.What, fmt.Sprintf("gateway %s writes its state_dir again; the transitions held in memory are on disk",
			a.plan.Config.Gateway.ID), now, nil)
	}
	a.storageParts = what
	a.checking = true
	a.commit(trs)
	a.checking = false
}

// lastGasp pushes the backlog out at once when a last-gasp rule (a UPS running out of battery) raises:
// the gateway may lose power before the next regular delivery.
func (a *runner) lastGasp(trs []contract.Alarm) {
	for i := range trs {
		t := &trs[i]
		if t.Event != contract.EventRaise || !slices.Contains(a.plan.Config.Gateway.LastGaspRules, t.Rule) {
			continue
		}
		a.log.Warn("last gasp: flushing the journal to every reachable broker", "alarm", t.Key)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
			defer cancel()
			if err := a.out.Flush(ctx); err != nil {
				a.log.Warn("last gasp: not everything went out", "err", err)
			}
		}()
		return
	}
}

// restartNeeded names the sections whose change a reload cannot apply.
func restartNeeded(old, new *config.Config) string {
	o, n := old.Gateway, new.Gateway
	o.Line, n.Line = 0, 0
	if fmt.Sprint(o) != fmt.Sprint(n) {
		return "gateway"
	}
	if !sameMQTT(old.MQTT, new.MQTT) {
		return "mqtt"
	}
	if old.Journal.MaxSize != new.Journal.MaxSize {
		return "journal"
	}
	return ""
}

func sameMQTT(a, b config.MQTT) bool {
	if a.TopicPrefix != b.TopicPrefix || a.EmbeddedBroker != b.EmbeddedBroker || len(a.Brokers) != len(b.Brokers) {
		return false
	}
	a.Readings.Line, b.Readings.Line = 0, 0
	if a.Readings != b.Readings {
		return false
	}
	if (a.HomeAssistant == nil) != (b.HomeAssistant == nil) ||
		a.HomeAssistant != nil && a.HomeAssistant.DiscoveryPrefix != b.HomeAssistant.DiscoveryPrefix {
		return false
	}
	for i := range a.Brokers {
		x, y := a.Brokers[i], b.Brokers[i]
		x.Line, y.Line = 0, 0
		if x != y {
			return false
		}
	}
	return true
}
