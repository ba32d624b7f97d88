package rules

import "github.com/rackwatch/rackwatch/agent/contract"

// Alarms appends the current state of every alarm the engine can raise, normal ones included (internal
// rules' are never published, so they are left out): /metrics shows each alarm's
// state from the start, and Home Assistant discovery gives each its entity before it ever rises.
func (e *Engine) Alarms(out []contract.Alarm) []contract.Alarm {
	for _, s := range e.all {
		if !s.r.internal {
			out = append(out, s.a)
		}
	}
	return out
}
