package rules

import (
	"fmt"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
)

// Apply carries out an operator's command at now and appends its transitions to out. c.By is the verified
// operator (the agent verifies the signature first). An unknown alarm, a shelve its rule does not allow
// (shelve_max: 0, or longer than shelve_max) or a shelve in the past is an error and changes nothing.
// Repeating a command that has already taken effect (a redelivered ack) is not an error and makes no
// transition.
func (e *Engine) Apply(c contract.Command, now time.Time, out []contract.Alarm) ([]contract.Alarm, error) {
	s := e.byKey[c.Alarm]
	if s == nil || s.r.internal {
		return out, fmt.Errorf("rules: %s %q: %w", c.Kind, contract.Printable(c.Alarm), contract.ErrUnknownAlarm)
	}
	note := func(what string) string {
		if c.Reason != "" {
			return what + " (" + c.Reason + ")"
		}
		return what
	}
	switch c.Kind {
	case contract.Ack:
		out = e.begin(now, out)
		out = e.ack(s, c.By, note("acknowledged by "+c.By), now, out)
	case contract.Unshelve:
		out = e.begin(now, out)
		if s.a.ShelvedUntil != nil {
			out = e.unshelve(s, now, note("unshelved by "+c.By), out)
		}
	case contract.Shelve:
		max := s.r.shelveMax
		if max == 0 {
			return out, fmt.Errorf("rules: shelve %s: %w: rule %s is never shelved (shelve_max: 0, a life-safety alarm); acknowledge it instead", c.Alarm, contract.ErrNotAllowed, s.r.id)
		}
		if !c.Until.After(now) {
			return out, fmt.Errorf("rules: shelve %s: %w: until %s is not in the future", c.Alarm, contract.ErrBadCommand, c.Until.UTC().Format(contract.TimeFormat))
		}
		// The length asked for, on the operator's clock when the command says when it was signed.
		asked := c.Until.Sub(now)
		if !c.At.IsZero() {
			asked = c.Until.Sub(c.At)
		}
		if asked > max {
			return out, fmt.Errorf("rules: shelve %s: %w: %s asked for, rule %s allows at most %s (shelve_max)", c.Alarm, contract.ErrNotAllowed, fmtDur(asked.Round(time.Second)), s.r.id, fmtDur(max))
		}
		out = e.begin(now, out)
		until := c.Until.UTC()
		if lim := now.Add(max).UTC(); until.After(lim) {
			until = lim // the two clocks differ a little: never longer than shelve_max on the gateway's
		}
		s.a.ShelvedUntil, s.a.ShelvedBy = &until, c.By
		e.describe(s, now)
		s.a.Message += "; " + note("shelved by "+c.By+" until "+until.Format(contract.TimeFormat))
		out = e.emit(s, contract.EventShelve, now, true, out)
	default:
		return out, fmt.Errorf("rules: %w: %q is not an alarm command", contract.ErrBadCommand, c.Kind)
	}
	if e.dirty {
		out = e.evalComposites(now, out)
	}
	return out, nil
}

func (e *Engine) ack(s *series, by, note string, now time.Time, out []contract.Alarm) []contract.Alarm {
	if s.a.Acked {
		return out
	}
	s.a.Acked, s.a.AckedBy = true, by
	e.describe(s, now)
	s.a.Message += "; " + note
	out = e.emit(s, contract.EventAck, now, true, out)
	if s.condCleared {
		// A latched alarm whose condition is gone clears once acknowledged.
		out = e.clear(s, now, true, out)
	}
	return out
}

// unshelve ends a shelve and publishes the alarm's true current state.
func (e *Engine) unshelve(s *series, now time.Time, why string, out []contract.Alarm) []contract.Alarm {
	s.a.ShelvedUntil, s.a.ShelvedBy = nil, ""
	e.describe(s, now)
	s.a.Message += "; " + why
	return e.emit(s, contract.EventUnshelv, now, true, out)
}

// endShelve ends the alarm's shelve when it has expired, or when it reaches further than its rule allows
// from now: the rule's shelve_max was lowered (to 0 for a life-safety alarm) since, or the clock went
// back. It is checked at every tick and when the engine first runs after a restore, so a restored shelve
// cannot outlast its limit either.
func (e *Engine) endShelve(s *series, now time.Time, out []contract.Alarm) []contract.Alarm {
	sh := s.a.ShelvedUntil
	switch {
	case sh == nil:
		return out
	case !now.Before(*sh):
		return e.unshelve(s, now, "shelve expired", out)
	case s.r.shelveMax == 0:
		return e.unshelve(s, now, "shelve ended: rule "+s.r.id+" is never shelved now (shelve_max: 0)", out)
	case sh.Sub(now) > s.r.shelveMax:
		return e.unshelve(s, now, fmt.Sprintf("shelve ended: it reached %s ahead, beyond shelve_max %s (the clock went back, or shelve_max was lowered)",
			fmtDur(sh.Sub(now).Round(time.Second)), fmtDur(s.r.shelveMax)), out)
	}
	return out
}
