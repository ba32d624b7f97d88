// Package rules evaluates alarm rules on readings and keeps each alarm's lifecycle: level (with clear
// hysteresis and for/clear_for delays that count only time backed by good readings), differential (a
// channel against other sensors' channels, beyond a learned normal difference), baseline (against the
// channel's own learned baseline), rate of change (a median of slopes, robust to spikes and steps),
// staleness (per channel or per device), stuck sensors, state (booleans, with unless), and composites
// (all/any/at least k of other rules' alarms, counting sensors, with a memory window). Alarms are
// acknowledged, latched and shelved per ISA-18.2 in spirit, and every transition gets the next seq.
// Learned baselines and composites' memories are part of State, so they survive restarts.
//
// It does no I/O (agent/store keeps its State on disk), starts no goroutines and reads no clock: time
// comes in with each reading, each Tick and each command, so a recorded trace replays the same way every
// time (Replay, behind `rackwatch rules test`). It is built from its own Rule and Options types, not from
// a config file. Eval does not allocate once a channel has been seen, unless it makes a transition.
//
// The engine is not safe for concurrent use; the agent owns it from one goroutine.
package rules
