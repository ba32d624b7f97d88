package rules

import (
	"strings"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
)

// The gateway's own alarms: conditions of the gateway itself that the central side must see, such as a
// journal that can no longer write (the gateway cannot keep its promise of durable delivery) or an alarm
// state rebuilt from the journal after its file was damaged. The agent raises and clears them; they take
// their seq from the engine like every other transition, are saved and restored with the engine's state,
// and can be acknowledged and shelved like any alarm.
//
// Their keys are "rackwatch/gateway/<what>": rule "rackwatch", sensor "gateway", channel <what>, so that
// they fit the topics and commands of the contract.

// SystemRule is the rule id of the gateway's own alarms; a configured rule must not use it.
const SystemRule = "rackwatch"

// systemSensor is the sensor part of a system alarm's key.
const systemSensor = "gateway"

// kindSystem marks a system alarm's rule. It is outside the kinds the engine evaluates, so Tick, Eval
// and the composites leave these alarms alone: only RaiseSystem, ClearSystem and commands change them.
const kindSystem kind = 200

// SystemAlarm describes one of the gateway's own alarms.
type SystemAlarm struct {
	// What names it: the last part of its key, e.g. "journal".
	What     string
	Severity string
	// Notice marks an alarm about something that happened rather than a lasting condition (the state was
	// rebuilt): it stays active until an operator acknowledges it, then clears.
	Notice bool
}

// SystemKey is the alarm key of the gateway's own alarm what: "rackwatch/gateway/<what>".
func SystemKey(what string) string { return SystemRule + "/" + systemSensor + "/" + what }

// IsSystemKey reports whether key names one of the gateway's own alarms.
func IsSystemKey(key string) bool {
	rest, ok := strings.CutPrefix(key, SystemRule+"/"+systemSensor+"/")
	return ok && rest != "" && contract.ValidKey(key)
}

// RaiseSystem raises the gateway's own alarm sa with message and appends its transition to out. If it is
// already active, only a changed message makes a transition (an update).
func (e *Engine) RaiseSystem(sa SystemAlarm, message string, now time.Time, out []contract.Alarm) []contract.Alarm {
	out = e.begin(now, out)
	s := e.systemSeries(SystemKey(sa.What), sa.Severity, sa.Notice)
	if s == nil {
		return out
	}
	s.r.severity, s.r.latch, s.a.Severity = sa.Severity, sa.Notice, sa.Severity
	if s.a.State == contract.Active {
		if s.base == message {
			return out
		}
		s.base, s.a.Message = message, message
		return e.emit(s, contract.EventUpdate, now, false, out)
	}
	s.a.State, s.a.Acked, s.a.AckedBy, s.a.Since, s.a.Episode = contract.Active, false, "", now, 0
	s.base, s.a.Message = message, message
	s.cond, s.hot, s.since = true, true, now
	e.setActive(s.r, +1)
	out = e.emit(s, contract.EventRaise, now, false, out)
	if sa.Notice {
		// Nothing to wait for but the acknowledgement, which then clears it.
		s.cond, s.hot, s.condCleared = false, false, true
	}
	return out
}

// ClearSystem clears the gateway's own alarm what with message, if it is active, and appends the
// transition to out.
func (e *Engine) ClearSystem(what, message string, now time.Time, out []contract.Alarm) []contract.Alarm {
	s := e.byKey[SystemKey(what)]
	if s == nil || s.r.kind != kindSystem || s.a.State != contract.Active {
		return out
	}
	out = e.begin(now, out)
	s.base = message
	s.cond, s.hot, s.since = false, false, now
	return e.clear(s, now, false, out)
}

// SystemActive reports whether the gateway's own alarm what is active.
func (e *Engine) SystemActive(what string) bool {
	s := e.byKey[SystemKey(what)]
	return s != nil && s.r.kind == kindSystem && s.a.State == contract.Active
}

// systemSeries returns the alarm of a system key, building it the first time; nil if key is not a system
// key or a configured rule already owns it.
func (e *Engine) systemSeries(key, severity string, notice bool) *series {
	if s := e.byKey[key]; s != nil {
		if s.r.kind != kindSystem {
			return nil
		}
		return s
	}
	if !IsSystemKey(key) {
		return nil
	}
	if severity == "" {
		severity = contract.Warning
	}
	r := &rule{id: SystemRule, kind: kindSystem, severity: severity, latch: notice, shelveMax: DefaultShelveMax.D()}
	what := strings.TrimPrefix(key, SystemRule+"/"+systemSensor+"/")
	s := &series{r: r, born: time.Time{}}
	s.a = contract.Alarm{Gateway: e.opt.Gateway, Site: e.opt.Site, Key: key, Rule: SystemRule, Sensor: systemSensor,
		Channel: what, Severity: severity, State: contract.Cleared, Acked: true, Labels: map[string]string{}}
	e.addSeries(s)
	return s
}

// restoreSystem is Restore's hook for a saved system alarm: it rebuilds the alarm so that Restore can load
// its state (nil for any other key). latched says it was a notice waiting for its acknowledgement.
func (e *Engine) restoreSystem(a contract.Alarm, latched bool) *series {
	return e.systemSeries(a.Key, a.Severity, latched)
}
