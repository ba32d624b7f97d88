package shutdown

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Config is the `shutdown:` section.
type Config struct {
	// When: any of these rules active starts the countdown.
	When []string
	// OnBattery: the countdown runs only while one of these rules is active (mains lost); when none is,
	// power is back and the countdown is cancelled. Empty: When's rules alone decide.
	OnBattery []string
	// Delay before the shutdown starts; Flush bounds the journal's last gasp; Timeout bounds the command.
	Delay, Flush, Timeout time.Duration
	// Command is the argv run at the end, without a shell.
	Command []string
}

// Phase is where the sequence is.
type Phase int

// Phases.
const (
	Idle Phase = iota
	Pending
	Started
)

func (p Phase) String() string { return [...]string{"idle", "pending", "started"}[p] }

// StepKind is what the agent must do.
type StepKind int

// Steps.
const (
	// None: nothing changed.
	None StepKind = iota
	// Pend: the countdown started; the shutdown starts at Step.At unless power returns.
	Pend
	// Cancel: power returned (or the trigger cleared) during the countdown.
	Cancel
	// Start: the countdown ran out; run Execute now.
	Start
)

// Step is the outcome of an Update.
type Step struct {
	Kind StepKind
	// Rule is the rule that triggered the countdown (Pend, Start) or the reason it was cancelled (Cancel).
	Rule string
	// At is when the shutdown starts (Pend).
	At time.Time
	// Why is one sentence for the event.
	Why string
}

// Sequence is the state machine. It is not safe for concurrent use.
type Sequence struct {
	cfg      Config
	phase    Phase
	deadline time.Time
	trigger  string
}

// New returns an idle sequence.
func New(cfg Config) *Sequence { return &Sequence{cfg: cfg} }

// Phase reports where the sequence is, and the deadline while pending.
func (s *Sequence) Phase() (Phase, time.Time) { return s.phase, s.deadline }

// Config returns the configuration it runs.
func (s *Sequence) Config() Config { return s.cfg }

func first(rules []string, active func(string) bool) string {
	for _, r := range rules {
		if active(r) {
			return r
		}
	}
	return ""
}

// Update looks at the rules' states at now (after a batch of transitions, and on every tick: the
// countdown ends between transitions) and says what to do.
func (s *Sequence) Update(active func(rule string) bool, now time.Time) Step {
	trigger := first(s.cfg.When, active)
	power := "" // the rule saying power is lost, when OnBattery is set
	lost := true
	if len(s.cfg.OnBattery) > 0 {
		power = first(s.cfg.OnBattery, active)
		lost = power != ""
	}
	switch s.phase {
	case Idle:
		if trigger == "" || !lost {
			return Step{}
		}
		s.phase, s.trigger, s.deadline = Pending, trigger, now.Add(s.cfg.Delay)
		why := fmt.Sprintf("%s is active", trigger)
		if power != "" {
			why += fmt.Sprintf(" while %s is", power)
		}
		if s.cfg.Delay <= 0 {
			s.phase = Started
			return Step{Kind: Start, Rule: trigger, At: now, Why: why + ": shutting down now"}
		}
		return Step{Kind: Pend, Rule: trigger, At: s.deadline,
			Why: fmt.Sprintf("%s: shutting down in %s unless power returns", why, s.cfg.Delay)}
	case Pending:
		switch {
		case !lost:
			s.phase = Idle
			return Step{Kind: Cancel, Rule: strings.Join(s.cfg.OnBattery, ", "),
				Why: fmt.Sprintf("power returned (%s cleared): shutdown cancelled", strings.Join(s.cfg.OnBattery, ", "))}
		case len(s.cfg.OnBattery) == 0 && trigger == "":
			s.phase = Idle
			return Step{Kind: Cancel, Rule: s.trigger, Why: fmt.Sprintf("%s cleared: shutdown cancelled", s.trigger)}
		case !now.Before(s.deadline):
			s.phase = Started
			return Step{Kind: Start, Rule: s.trigger, At: now, Why: fmt.Sprintf("%s still active after %s: shutting down", s.trigger, s.cfg.Delay)}
		}
	}
	return Step{}
}

// Report is told each step of an Execute: the event's state (pending, started, command), whether it went
// well, a detail and an error.
type Report func(state string, ok bool, detail string, err error)

// Executor carries out a started shutdown.
type Executor struct {
	// Flush pushes the journal to every broker until ctx ends (the agent's Link.Flush).
	Flush func(ctx context.Context) error
	// Run runs argv and returns its combined output (bounded) when it fails.
	Run func(ctx context.Context, argv []string) (string, error)
	// Report publishes each step.
	Report Report
}

// States reported by Execute (the same words as the contract's shutdown states).
const (
	StateStarted = "started"
	StateCommand = "command"
)

// commandFlush bounds the second, short flush that gets the "running the command" event out.
const commandFlush = 2 * time.Second

// Execute flushes the journal (at most cfg.Flush), reports, then runs the command (at most cfg.Timeout)
// and reports its result. It returns the command's error.
func (x *Executor) Execute(ctx context.Context, cfg Config) error {
	fctx, cancel := context.WithTimeout(ctx, cfg.Flush)
	err := x.Flush(fctx)
	cancel()
	if err != nil {
		x.Report(StateStarted, false, fmt.Sprintf("last gasp: not everything reached the brokers within %s; it stays in the journal", cfg.Flush), err)
	} else {
		x.Report(StateStarted, true, "last gasp: every broker has the journal", nil)
	}
	cmd := strings.Join(cfg.Command, " ")
	x.Report(StateCommand, true, "running "+cmd, nil)
	fctx, cancel = context.WithTimeout(ctx, commandFlush)
	x.Flush(fctx) // best effort: the event above, before the command takes the gateway down
	cancel()
	rctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	out, err := x.Run(rctx, cfg.Command)
	if err != nil {
		detail := cmd
		if out != "" {
			detail += ": " + out
		}
		x.Report(StateCommand, false, detail, err)
		return err
	}
	x.Report(StateCommand, true, cmd+" done", nil)
	return nil
}

// Describe says in one paragraph what the shutdown would do, for `rackwatch check`.
func Describe(cfg Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "when %s is active", strings.Join(cfg.When, " or "))
	if len(cfg.OnBattery) > 0 {
		fmt.Fprintf(&b, " while %s is active (mains lost)", strings.Join(cfg.OnBattery, " or "))
	}
	if cfg.Delay > 0 {
		fmt.Fprintf(&b, ", wait %s (cancelled if ", cfg.Delay)
		if len(cfg.OnBattery) > 0 {
			fmt.Fprintf(&b, "%s clears: power is back)", strings.Join(cfg.OnBattery, " and "))
		} else {
			fmt.Fprintf(&b, "%s clears)", strings.Join(cfg.When, " and "))
		}
	}
	fmt.Fprintf(&b, ", push the journal to every broker (at most %s), then run %s (at most %s)",
		cfg.Flush, quoteArgv(cfg.Command), cfg.Timeout)
	return b.String()
}

func quoteArgv(argv []string) string {
	parts := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t\"'\\") {
			a = fmt.Sprintf("%q", a)
		}
		parts[i] = a
	}
	return strings.Join(parts, " ")
}
