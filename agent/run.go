package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/rackwatch/rackwatch/agent/alarm"
	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/delivery"
	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/rules"
	"github.com/rackwatch/rackwatch/agent/schedule"
)

// Command is an operator's command received over MQTT (…/cmd/ack, …/cmd/shelve).
type Command = delivery.Command

// Outbox is where alarm transitions and readings go: the durable journal and the MQTT fan-out.
type Outbox interface {
	// Transitions returns once the transitions are durable; delivery continues in the background.
	Transitions(as []alarm.Alarm) error
	// Reading hands over one reading for publishing; it never blocks.
	Reading(r *reading.Reading, unit string)
	Commands() <-chan Command
	// Restore hands over the alarm states restored at start, so brokers that lost their retained
	// messages get them again.
	Restore(as []alarm.Alarm) error
	// Flush pushes the backlog to every reachable broker until ctx ends (the last gasp).
	Flush(ctx context.Context) error
	// Result answers a command on …/cmd/result.
	Result(payload []byte)
	Health() error
	WriteMetrics(w io.Writer)
	// Close delivers what it can before ctx ends, says "offline" and disconnects.
	Close(ctx context.Context) error
}

// Options adjust Run; the zero value is what `rackwatch run` uses.
type Options struct {
	Log *slog.Logger
	// OpenOutbox opens the delivery path. Nil means MQTT delivery as configured.
	OpenOutbox func(ctx context.Context, cfg *config.Config, log *slog.Logger) (Outbox, error)
	// Reload delivers new, already checked plans (SIGHUP). Sensors and rules are replaced in place; changes
	// to gateway, mqtt or journal need a restart and are logged as such.
	Reload <-chan *Plan
	// OnTransition, when set, sees every transition after it is durable (the demo prints them). It runs on
	// the agent's loop and must not block.
	OnTransition func(a *alarm.Alarm)
	// Tick is how often time-based rules (for, stale, shelve expiry) are evaluated; default 250ms.
	Tick time.Duration
}

// StateFile is the name of the alarm state file in state_dir.
const StateFile = "alarms.json"

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
	if cfg.Gateway.MemoryLimit > 0 {
		debug.SetMemoryLimit(int64(cfg.Gateway.MemoryLimit))
	}
	if err := os.MkdirAll(cfg.Gateway.StateDir, 0o750); err != nil {
		return fmt.Errorf("state_dir: %w", err)
	}
	statePath := filepath.Join(cfg.Gateway.StateDir, StateFile)
	st, err := rules.LoadState(statePath)
	if err != nil {
		return fmt.Errorf("alarm state %s: %w (move it away to start afresh)", statePath, err)
	}

	a := &runner{log: log, opt: opt, reg: reg, statePath: statePath}
	if err := a.setPlan(plan, &st); err != nil {
		return err
	}
	open := opt.OpenOutbox
	if open == nil {
		open = OpenMQTT
	}
	out, err := open(ctx, cfg, log)
	if err != nil {
		return err
	}
	a.out = out
	if err := out.Restore(a.engine.Snapshot().Alarms); err != nil {
		log.Warn("restoring retained alarm states", "err", err)
	}
	if cfg.Gateway.HTTP != "" {
		srv, err := serveHTTP(cfg.Gateway.HTTP, a, log)
		if err != nil {
			out.Close(context.Background())
			return err
		}
		defer srv.Close()
	}
	log.Info("rackwatch running", "gateway", cfg.Gateway.ID, "sensors", len(cfg.Sensors), "rules", len(cfg.Rules),
		"brokers", len(cfg.MQTT.Brokers), "embedded_broker", cfg.MQTT.EmbeddedBroker, "version", Version)
	a.loop(ctx)

	closeCtx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
	defer cancel()
	if err := out.Close(closeCtx); err != nil {
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
	out       Outbox

	plan   *Plan
	engine *rules.Engine
	sched  *schedule.Scheduler
	units  map[string]map[reading.Channel]string
	trs    []alarm.Alarm

	mu     sync.Mutex // guards what the HTTP side reads
	active map[string]alarm.Alarm
	last   map[string]map[reading.Channel]*reading.Reading
	stats  struct{ readings, transitions, commands, journalErrors uint64 }
}

func (a *runner) setPlan(p *Plan, st *rules.State) error {
	cfg := p.Config
	labels := map[string]map[string]string{}
	units := map[string]map[reading.Channel]string{}
	last := map[string]map[reading.Channel]*reading.Reading{}
	for i := range cfg.Sensors {
		s := &cfg.Sensors[i]
		labels[s.ID] = s.Labels
		units[s.ID] = map[reading.Channel]string{}
		last[s.ID] = map[reading.Channel]*reading.Reading{}
		for _, ci := range p.Channels[s.ID] {
			units[s.ID][ci.Channel] = ci.Unit
			last[s.ID][ci.Channel] = &reading.Reading{Sensor: s.ID, Channel: ci.Channel, Quality: reading.Bad}
		}
	}
	unit := func(sensor string, ch reading.Channel) string {
		if u, ok := units[sensor][ch]; ok {
			return u
		}
		return reading.Unit(ch)
	}
	channels := func(sensor string) []reading.Channel {
		var out []reading.Channel
		for _, ci := range p.Channels[sensor] {
			out = append(out, ci.Channel)
		}
		return out
	}
	eng, err := rules.New(cfg, rules.Options{Gateway: cfg.Gateway.ID, Site: cfg.Gateway.Site,
		Labels: func(s string) map[string]string { return labels[s] }, Unit: unit, Channels: channels})
	if err != nil {
		return err
	}
	if st != nil {
		if err := eng.Restore(*st); err != nil {
			return fmt.Errorf("alarm state: %w", err)
		}
	}
	a.plan, a.engine, a.units = p, eng, units
	a.sched = schedule.New(cfg, p.Channels, a.reg, a.log)
	active := map[string]alarm.Alarm{}
	for _, al := range eng.Snapshot().Alarms {
		active[al.Key] = al
	}
	a.mu.Lock()
	a.active, a.last = active, last
	a.mu.Unlock()
	return nil
}

func (a *runner) unit(sensor string, ch reading.Channel) string {
	if u, ok := a.units[sensor][ch]; ok {
		return u
	}
	return reading.Unit(ch)
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
			}
			stopScheduler = start()
		}
	}
}

func (a *runner) reading(r *reading.Reading) {
	a.stats.readings++
	a.commit(a.engine.Eval(r, a.trs[:0]))
	if r.Channel != "" {
		a.out.Reading(r, a.unit(r.Sensor, r.Channel))
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
// between the two, the journal still holds the transition, and seq never goes backwards.
func (a *runner) commit(trs []alarm.Alarm) {
	a.trs = trs[:0]
	if len(trs) == 0 {
		return
	}
	a.stats.transitions += uint64(len(trs))
	if err := a.out.Transitions(trs); err != nil {
		a.stats.journalErrors++
		a.log.Error("journal: transitions not durable; publishing anyway", "err", err)
	}
	if err := rules.SaveState(a.statePath, a.engine.Snapshot()); err != nil {
		a.log.Error("saving alarm state", "err", err)
	}
	a.mu.Lock()
	for i := range trs {
		t := &trs[i]
		if t.State == alarm.Cleared && t.Acked {
			delete(a.active, t.Key)
		} else {
			a.active[t.Key] = *t
		}
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
}

func (a *runner) command(c Command) {
	a.stats.commands++
	cmd, err := rules.ParseCommand(c.Kind, c.Payload)
	if err == nil {
		var trs []alarm.Alarm
		trs, err = a.engine.Apply(cmd, time.Now(), a.trs[:0])
		a.commit(trs)
	}
	if err != nil {
		a.log.Warn("command refused", "command", c.Kind, "err", err)
	}
	a.out.Result(rules.Result(cmd, err))
}

// lastGasp pushes the backlog out at once when a last-gasp rule (a UPS running out of battery) raises:
// the gateway may lose power before the next regular delivery.
func (a *runner) lastGasp(trs []alarm.Alarm) {
	for i := range trs {
		t := &trs[i]
		if t.Event != alarm.EventRaise || !slices.Contains(a.plan.Config.Gateway.LastGaspRules, t.Rule) {
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
	for i := range a.Brokers {
		x, y := a.Brokers[i], b.Brokers[i]
		x.Line, y.Line = 0, 0
		if x != y {
			return false
		}
	}
	return true
}
