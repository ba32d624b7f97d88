package agent

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rackwatch/rackwatch/agent/actions"
	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/httpapi"
	"github.com/rackwatch/rackwatch/agent/outputs"
	"github.com/rackwatch/rackwatch/agent/promtext"
	"github.com/rackwatch/rackwatch/agent/shutdown"
	"github.com/rackwatch/rackwatch/drivers/hook"
)

// This file wires the local actions into the agent's loop: the actions engine decides (on the loop, with
// each batch of transitions, before they are journaled, so an output never waits on the disk), the
// outputs switch (each on its own goroutine), and the shutdown sequence runs on ticks.

// ActionOutbox is implemented by delivery paths that carry action events (the MQTT delivery does): they
// are journaled and published on …/events like transitions.
type ActionOutbox interface {
	Actions(as []contract.Action) error
}

type acting struct {
	eng     *actions.Engine
	bank    *outputs.Bank
	ctl     *outputs.Control
	seq     *shutdown.Sequence
	drives  []actions.Drive
	outSig  string
	dryRun  atomic.Bool
	seqDesc atomic.Value  // string: what the shutdown would do, "" without one (read by /metrics)
	started atomic.Bool   // the shutdown sequence is running or ran
	state   atomic.Value  // string: the shutdown's state for the status page
	events  atomic.Uint64 // action events emitted
	lost    atomic.Uint64 // action events the journal refused
}

// outputsSignature identifies the configured outputs; a reload that changes it needs a restart.
func outputsSignature(p *Plan) string {
	var b strings.Builder
	for _, o := range p.Outputs {
		fmt.Fprintf(&b, "%s|%s|%s|%s|%s|%s|%s\n", o.Output.ID, o.Output.Type, o.Role, o.Output.Bus, o.Output.Sensor, o.Timeout, o.Info.Describe)
	}
	return b.String()
}

// startActions opens the outputs, brings them to the state the restored alarms call for, and opens the
// control socket for output tests. It runs on the loop's goroutine, before the loop.
func (a *runner) startActions() {
	p := a.plan
	cfg := p.Config
	if len(p.Outputs) == 0 && cfg.Shutdown == nil {
		return
	}
	ac := &acting{outSig: outputsSignature(p)}
	ac.dryRun.Store(cfg.Actions.DryRun)
	ac.state.Store("")
	ac.seqDesc.Store("")
	a.acts = ac
	ac.bank = outputs.Start(p.Outputs, outputs.Options{Gateway: cfg.Gateway.ID, Site: cfg.Gateway.Site, DryRun: cfg.Actions.DryRun,
		Log: a.log.With("component", "outputs"), Emit: a.emitAction})
	specs, outs := ActionSpecs(cfg)
	ac.eng = actions.New(specs, outs)
	a.applyDrives(ac.eng.Restore(a.engine.Snapshot().Alarms, time.Now(), ac.drives[:0]))
	if sc := ShutdownConfig(cfg); sc != nil {
		ac.seq = shutdown.New(*sc)
		ac.seqDesc.Store(shutdown.Describe(*sc))
	}
	if len(p.Outputs) > 0 {
		ctl, err := outputs.Serve(outputs.SocketPath(cfg.Gateway.StateDir), ac.bank, a.log)
		if err != nil {
			a.log.Warn("output tests are not available", "err", err)
		}
		ac.ctl = ctl
	}
	if cfg.Actions.DryRun {
		a.log.Warn("actions.dry_run is set: actions are logged and published, no output is switched")
	}
}

// stopActions closes the control socket and the outputs (leaving them as they are).
func (a *runner) stopActions() {
	if a.acts == nil {
		return
	}
	a.acts.ctl.Close()
	a.acts.bank.Close()
}

// act hands a batch of transitions to the actions engine and the drives it returns to the outputs.
func (a *runner) act(trs []contract.Alarm) {
	if a.acts == nil || len(trs) == 0 {
		return
	}
	a.applyDrives(a.acts.eng.Update(trs, time.Now(), a.acts.drives[:0]))
}

func (a *runner) applyDrives(ds []actions.Drive) {
	a.acts.drives = ds[:0]
	for _, d := range ds {
		a.acts.bank.Set(d.Output, d.On, d.Cause)
		a.log.Info("action", "output", d.Output, "on", d.On, "why", d.Why)
	}
}

// actTick runs the minimum on-times and the shutdown sequence.
func (a *runner) actTick(now time.Time) {
	ac := a.acts
	if ac == nil {
		return
	}
	if ds := ac.eng.Tick(now, ac.drives[:0]); len(ds) > 0 {
		a.applyDrives(ds)
	}
	if ac.seq == nil {
		return
	}
	step := ac.seq.Update(a.ruleActive, now)
	switch step.Kind {
	case shutdown.Pend:
		ac.state.Store(fmt.Sprintf("pending: %s (at %s)", step.Why, step.At.Format(time.TimeOnly)))
		a.log.Warn("shutdown pending", "why", step.Why, "at", step.At)
		a.shutdownEvent(contract.ShutdownPending, true, step.Rule, step.Why, nil)
	case shutdown.Cancel:
		ac.state.Store("cancelled: " + step.Why)
		a.log.Warn("shutdown cancelled", "why", step.Why)
		a.shutdownEvent(contract.ShutdownCancelled, true, step.Rule, step.Why, nil)
	case shutdown.Start:
		ac.state.Store("started: " + step.Why)
		a.log.Error("shutting down", "why", step.Why)
		if ac.started.Swap(true) {
			return
		}
		go a.runShutdown(step, ac.seq.Config())
	}
}

// ruleActive reports whether any alarm of the rule is active.
func (a *runner) ruleActive(rule string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, al := range a.active {
		if al.Rule == rule && al.State == contract.Active {
			return true
		}
	}
	return false
}

func (a *runner) runShutdown(step shutdown.Step, cfg shutdown.Config) {
	if a.acts.dryRun.Load() {
		a.shutdownEvent(contract.ShutdownStarted, true, step.Rule, "dry run: would push the journal to every broker, then run "+strings.Join(cfg.Command, " "), nil)
		return
	}
	x := &shutdown.Executor{
		Flush: a.out.Flush,
		Run: func(ctx context.Context, argv []string) (string, error) {
			return hook.Run(ctx, argv, []string{"PATH=" + hook.Path})
		},
		Report: func(state string, ok bool, detail string, err error) {
			a.shutdownEvent(state, ok, step.Rule, detail, err)
		},
	}
	if err := x.Execute(context.Background(), cfg); err != nil {
		a.acts.state.Store("failed: " + err.Error())
		a.log.Error("shutdown command failed", "err", err)
		return
	}
	a.acts.state.Store("command ran: " + strings.Join(cfg.Command, " "))
}

func (a *runner) shutdownEvent(state string, ok bool, rule, detail string, err error) {
	cfg := a.plan.Config
	now := time.Now()
	ev := contract.Action{Gateway: cfg.Gateway.ID, Site: cfg.Gateway.Site, ID: contract.ShutdownOutput + "/" + strconv.FormatInt(now.UnixNano(), 10),
		Output: contract.ShutdownOutput, Type: "shutdown", State: state, Result: contract.ResultOK, Detail: detail,
		DryRun: a.acts.dryRun.Load(), By: contract.ByShutdown, Rule: rule, Time: now}
	switch {
	case ev.DryRun:
		ev.Result = contract.ResultDryRun
	case !ok:
		ev.Result = contract.ResultFailed
		if err != nil {
			ev.Error = err.Error()
		}
	}
	ev.Message = contract.ActionMessage(&ev)
	a.emitAction(&ev)
}

// emitAction journals and publishes an action event. Outputs call it from their goroutines.
func (a *runner) emitAction(ev *contract.Action) {
	if a.acts != nil {
		a.acts.events.Add(1)
	}
	ao, ok := a.out.Outbox.(ActionOutbox)
	if !ok {
		return
	}
	if err := ao.Actions([]contract.Action{*ev}); err != nil {
		if a.acts != nil {
			a.acts.lost.Add(1)
		}
		a.log.Error("journal: action event not durable", "output", ev.Output, "err", err)
	}
}

// reloadActions applies a reloaded plan's actions, dry_run and shutdown; changed outputs need a restart.
func (a *runner) reloadActions(p *Plan) {
	ac := a.acts
	if ac == nil {
		if len(p.Outputs) > 0 || p.Config.Shutdown != nil {
			a.log.Warn("reload: outputs or shutdown were added; that takes a restart")
		}
		return
	}
	if outputsSignature(p) != ac.outSig {
		a.log.Warn("reload: outputs changed; that takes a restart. Actions, dry_run and shutdown are reloaded now.")
	}
	cfg := p.Config
	specs, outs := ActionSpecs(cfg)
	eng := actions.New(specs, outs)
	eng.Carry(ac.eng)
	ac.eng = eng
	ds := eng.Restore(a.engine.Snapshot().Alarms, time.Now(), ac.drives[:0])
	if ac.dryRun.Swap(cfg.Actions.DryRun) != cfg.Actions.DryRun {
		// The mode changes: record the new wishes first, then switch the mode, which wakes every output.
		for _, d := range ds {
			ac.bank.Want(d.Output, d.On, d.Cause)
			a.log.Info("action", "output", d.Output, "on", d.On, "why", d.Why)
		}
		ac.drives = ds[:0]
		ac.bank.SetDryRun(cfg.Actions.DryRun)
	} else {
		a.applyDrives(ds)
	}
	if !ac.started.Load() {
		ac.seq = nil
		ac.seqDesc.Store("")
		ac.state.Store("")
		if sc := ShutdownConfig(cfg); sc != nil {
			ac.seq = shutdown.New(*sc)
			ac.seqDesc.Store(shutdown.Describe(*sc))
		}
	}
}

// writeActionMetrics adds the outputs and the shutdown to /metrics.
func (a *runner) writeActionMetrics(w *promtext.Writer) {
	ac := a.acts
	if ac == nil {
		return
	}
	ac.bank.WriteMetrics(w)
	w.One("rackwatch_action_events_total", "Action events emitted (outputs switched, tests, shutdown steps).", promtext.Counter, float64(ac.events.Load()))
	w.One("rackwatch_action_events_lost_total", "Action events the journal could not make durable.", promtext.Counter, float64(ac.lost.Load()))
	if desc, _ := ac.seqDesc.Load().(string); desc != "" {
		st := 0.0
		switch s, _ := ac.state.Load().(string); {
		case strings.HasPrefix(s, "pending"):
			st = 1
		case strings.HasPrefix(s, "started"), strings.HasPrefix(s, "command"), strings.HasPrefix(s, "failed"):
			st = 2
		}
		w.One("rackwatch_shutdown_state", "The shutdown sequence: 0 idle, 1 pending (counting down), 2 started.", promtext.Gauge, st)
	}
}

// actionStatus is the outputs and the shutdown for the status page.
func (a *runner) actionStatus() ([]httpapi.OutputRow, string) {
	ac := a.acts
	if ac == nil {
		return nil, ""
	}
	var rows []httpapi.OutputRow
	for _, s := range ac.bank.States() {
		state := "off"
		if s.On {
			state = "on"
		}
		if s.DryRun {
			state += " (dry run)"
		}
		r := httpapi.OutputRow{ID: s.ID, Type: s.Type, Role: s.Role, State: state, Wanted: s.Wanted, OK: s.OK && s.OpenErr == "",
			Since: s.Since, Last: s.Last.Message, Describe: s.Describe}
		if s.OpenErr != "" {
			r.Last = "cannot open: " + s.OpenErr
		}
		rows = append(rows, r)
	}
	st, _ := ac.state.Load().(string)
	if desc, _ := ac.seqDesc.Load().(string); desc != "" && st == "" {
		st = "idle: " + desc
	}
	return rows, st
}
