// Package shutdown is the ordered shutdown of the gateway (or of what its command stops), as NUT's upsmon
// does it: when a rule says the battery is nearly done (low battery, runtime below a limit) while power is
// lost, wait a delay; if power returns meanwhile, cancel; otherwise push the journal to every broker (the
// last gasp, so the central side learns why the gateway went quiet), then run the configured command.
//
// Sequence is the pure state machine: it takes "is this rule active?" and the time, and says what to do.
// Execute carries the sequence out once it starts, through functions the agent gives it (flush the
// journal, run the command, report each step as an action event), so both are tested with a fake clock.
// A started shutdown is never cancelled, as with upsmon's forced shutdown: the power may come back for a
// second, and a gateway half shut down is worse than one shut down.
package shutdown
