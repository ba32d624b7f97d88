package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/delivery"
	"github.com/rackwatch/rackwatch/agent/operator"
	"github.com/rackwatch/rackwatch/agent/outputs"
	"github.com/rackwatch/rackwatch/agent/promtext"
)

// This file is the operators' side of the loop: every command received is verified (signed by a listed
// operator, for this gateway and topic, within the time window, never seen before) before anything
// happens, and answered on …/cmd/result whatever the outcome. `by` is always the verified operator.

// commands is the runner's command state.
type commands struct {
	v *operator.Verifier
	// accepted and refused count the commands read (refused by reason, in contract.Reasons' order).
	accepted atomic.Uint64
	refused  []atomic.Uint64
	// tests counts output tests running for operators.
	tests atomic.Int32
}

// maxRemoteTests bounds the output tests operators run at once over MQTT (each holds a goroutine until its
// output is back off).
const maxRemoteTests = 8

// defaultTestFor is an output test's length when the command says none.
const defaultTestFor = 5 * time.Second

// startCommands opens the nonce store in state_dir and builds the verifier.
func (a *runner) startCommands() error {
	cfg := a.plan.Config
	n, note, err := operator.OpenNonces(filepath.Join(cfg.Gateway.StateDir, operator.NoncesFile), time.Now())
	if err != nil {
		return err
	}
	if note != "" {
		a.log.Warn(note)
	}
	a.cmds = &commands{refused: make([]atomic.Uint64, len(contract.Reasons)),
		v: &operator.Verifier{Topics: contract.NewTopics(cfg.MQTT.TopicPrefix, cfg.Gateway.ID), Gateway: cfg.Gateway.ID, Nonces: n}}
	a.setOperators(a.plan)
	return nil
}

// setOperators takes the plan's operators and time window (at start and on every reload).
func (a *runner) setOperators(p *Plan) {
	if a.cmds == nil {
		return
	}
	a.cmds.v.Keys, a.cmds.v.Window = p.Operators, p.Config.Window()
	if p.Operators.Len() == 0 {
		a.log.Warn("no operators are configured, so every ack, shelve, unshelve and output test is refused; " +
			"make a key with `rackwatch key new NAME` and list NAME.pub under operators: or in operators_dir (docs/security.md)")
		return
	}
	var names []string
	for _, o := range p.Operators.Operators() {
		names = append(names, o.Name+" ("+operator.Fingerprint(o.Key)+")")
	}
	a.log.Info("operators", "operators", names, "window", p.Config.Window().String())
}

func (a *runner) command(c delivery.Inbound) {
	now := time.Now()
	cmd, err := a.cmds.v.Verify(c.Kind, c.Payload, now)
	if err == nil {
		if cmd.Kind == contract.OutputTest {
			a.outputTest(cmd, c.Broker)
			return
		}
		var trs []contract.Alarm
		trs, err = a.engine.Apply(cmd, now, a.trs[:0])
		a.commit(trs)
	}
	a.answer(cmd, err, c.Broker)
}

// answer counts, logs and publishes the outcome of a command.
func (a *runner) answer(cmd contract.Command, err error, broker string) {
	if err != nil {
		reason := contract.ReasonOf(err)
		if i := slices.Index(contract.Reasons, reason); i >= 0 {
			a.cmds.refused[i].Add(1)
		}
		// Once a minute per reason: a flood of forged commands must not flood the log.
		a.ratelog.Log(a.log, slog.LevelWarn, "refused:"+reason, "command refused", "reason", reason, "broker", broker,
			"command", contract.Printable(cmd.Kind), "err", err)
	} else {
		a.cmds.accepted.Add(1)
		a.log.Info("command", "command", cmd.Kind, "alarm", cmd.Alarm, "output", cmd.Output, "by", cmd.By, "reason", cmd.Reason, "broker", broker)
	}
	a.out.Answer(contract.NewResult(cmd, err))
}

// outputTest runs an operator's output test on its own goroutine (it lasts seconds) and answers when the
// output is back off. The loop goes on meanwhile.
func (a *runner) outputTest(cmd contract.Command, broker string) {
	refuse := func(format string, args ...any) {
		a.answer(cmd, contract.Refuse(contract.ReasonFailed, "output-test %s: %s", cmd.Output, fmt.Sprintf(format, args...)), broker)
	}
	if a.acts == nil || a.acts.bank == nil {
		a.answer(cmd, contract.Refuse(contract.ReasonUnknownOutput, "output-test %s: this gateway has no outputs", cmd.Output), broker)
		return
	}
	if a.cmds.tests.Add(1) > maxRemoteTests {
		a.cmds.tests.Add(-1)
		refuse("%d output tests are running already; try again when they end", maxRemoteTests)
		return
	}
	d := cmd.For
	if d == 0 {
		d = defaultTestFor
	}
	bank := a.acts.bank
	a.log.Warn("output test requested", "output", cmd.Output, "for", d, "by", cmd.By, "broker", broker)
	go func() {
		defer a.cmds.tests.Add(-1)
		ctx, cancel := context.WithTimeout(context.Background(), d+time.Minute)
		defer cancel()
		_, err := bank.Test(ctx, cmd.Output, d, "operator:"+cmd.By)
		switch {
		case errors.Is(err, outputs.ErrUnknownOutput):
			err = contract.Refuse(contract.ReasonUnknownOutput, "output-test: %v", err)
		case err != nil:
			err = contract.Refuse(contract.ReasonFailed, "output-test %s: %v", cmd.Output, err)
		}
		a.answer(cmd, err, broker)
	}()
}

// writeCommandMetrics writes the command counters: accepted, refused by reason, and what the delivery
// dropped or ignored before the loop saw it.
func (a *runner) writeCommandMetrics(w *promtext.Writer) {
	var accepted uint64
	refused := make([]uint64, len(contract.Reasons))
	if a.cmds != nil {
		accepted = a.cmds.accepted.Load()
		for i := range refused {
			refused[i] = a.cmds.refused[i].Load()
		}
	}
	var ds delivery.CommandStats
	if cs, ok := a.out.Inbox.(interface{ CommandStats() delivery.CommandStats }); ok {
		ds = cs.CommandStats()
	}
	// A command too large to read is refused as a bad command by the delivery itself.
	refused[slices.Index(contract.Reasons, contract.ReasonBadCommand)] += ds.TooLarge
	w.One("rackwatch_commands_total", "Operator commands carried out (verified and accepted).", promtext.Counter, float64(accepted))
	w.Family("rackwatch_commands_refused_total", "Commands refused, by reason (unsigned, unknown_operator, bad_signature, replayed, …): nothing changed.", promtext.Counter)
	for i, r := range contract.Reasons {
		w.Sample("rackwatch_commands_refused_total", float64(refused[i]), "reason", r)
	}
	w.Family("rackwatch_commands_ignored_total", "Commands ignored unread: from a broker with commands: false, or retained.", promtext.Counter)
	for _, ig := range ds.Ignored {
		w.Sample("rackwatch_commands_ignored_total", float64(ig.N), "broker", ig.Broker, "why", ig.Why)
	}
	w.One("rackwatch_commands_dropped_total", "Commands dropped because the agent did not keep up.", promtext.Counter, float64(ds.Dropped))
}
