// Package actions decides which outputs are on: it maps alarm transitions to outputs as the config's
// `actions:` say (until the alarm clears or is acknowledged, with a minimum on-time, sounders silenced by
// an acknowledgement), and hands out a Drive for every output whose state must change.
//
// It is pure: no I/O, no clock of its own (every call takes now), no goroutines. The agent calls it on its
// single loop with each batch of transitions and on every tick, and passes the drives to the outputs, which
// do the I/O on goroutines of their own, so that switching a relay never holds up the rules.
//
// What holds an output on is derived from the alarms' current states alone, so after a restart the same
// outputs come back on from the restored alarm states (Restore), and a reloaded config starts from them
// too. Only the minimum on-times start afresh.
package actions
