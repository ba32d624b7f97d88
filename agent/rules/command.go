package rules

import (
	"fmt"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
)

// MaxShelve is the longest an alarm may be shelved: shelving is for maintenance, and a forgotten shelve
// must not silence a battery room for good.
const MaxShelve = 7 * 24 * time.Hour

// Apply carries out a command at now and appends its transitions to out. An unknown alarm, a shelve in the
// past or longer than MaxShelve is an error and changes nothing. Repeating a command that has already taken
// effect (a redelivered ack) is not an error and makes no transition.
func (e *Engine) Apply(c contract.Command, now time.Time, out []contract.Alarm) ([]contract.Alarm, error) {
	s := e.byKey[c.Alarm]
	if s == nil || s.r.internal {
		return out, fmt.Errorf("rules: %s %q: %w", c.Kind, contract.Printable(c.Alarm), contract.ErrUnknownAlarm)
	}
	switch c.Kind {
	case contract.Ack:
		out = e.begin(now, out)
		out = e.ack(s, c.By, now, out)
	case contract.Shelve:
		if c.Until.IsZero() {
			out = e.begin(now, out)
			if s.a.ShelvedUntil != nil {
				out = e.unshelve(s, now, "unshelved by "+c.By, out)
			}
			break
		}
		if !c.Until.After(now) {
			return out, fmt.Errorf("rules: shelve %q: %w: until %s is not in the future", c.Alarm, contract.ErrBadCommand, c.Until.UTC().Format(contract.TimeFormat))
		}
		if c.Until.Sub(now) > MaxShelve {
			return out, fmt.Errorf("rules: shelve %q: %w: until is more than %s away", c.Alarm, contract.ErrBadCommand, fmtDur(MaxShelve))
		}
		out = e.begin(now, out)
		until := c.Until.UTC()
		s.a.ShelvedUntil = &until
		e.describe(s, now)
		s.a.Message += "; shelved by " + c.By + " until " + until.Format(contract.TimeFormat)
		out = e.emit(s, contract.EventShelve, now, true, out)
	default:
		return out, fmt.Errorf("rules: %w: unknown command %q", contract.ErrBadCommand, c.Kind)
	}
	if e.dirty {
		out = e.evalComposites(now, out)
	}
	return out, nil
}

func (e *Engine) ack(s *series, by string, now time.Time, out []contract.Alarm) []contract.Alarm {
	if s.a.Acked {
		return out
	}
	s.a.Acked, s.a.AckedBy = true, by
	e.describe(s, now)
	s.a.Message += "; acknowledged by " + by
	out = e.emit(s, contract.EventAck, now, true, out)
	if s.condCleared {
		// A latched alarm whose condition is gone clears once acknowledged.
		out = e.clear(s, now, true, out)
	}
	return out
}

func (e *Engine) unshelve(s *series, now time.Time, why string, out []contract.Alarm) []contract.Alarm {
	s.a.ShelvedUntil = nil
	e.describe(s, now)
	s.a.Message += "; " + why
	return e.emit(s, contract.EventUnshelv, now, true, out)
}
