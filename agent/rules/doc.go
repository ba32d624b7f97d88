// Package rules evaluates alarm rules on readings and keeps each alarm's lifecycle: level (with clear
// hysteresis and for/clear_for delays), state (booleans), rate of change (a least-squares fit over a time
// window), staleness (no good reading for a while, with the last error), and composites (all/any of other
// rules' alarms, nested). Alarms are acknowledged, latched and shelved per ISA-18.2 in spirit, and every
// transition gets the next seq.
//
// It does no I/O (agent/store keeps its State on disk), starts no goroutines and reads no clock: time
// comes in with each reading, each Tick and each command, so a recorded trace replays the same way every
// time (Replay, behind `rackwatch rules test`). It is built from its own Rule and Options types, not from
// a config file. Eval does not allocate once a channel has been seen, unless it makes a transition.
//
// The engine is not safe for concurrent use; the agent owns it from one goroutine.
package rules
