package rules

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/reading"
)

// State is what survives a restart: the last seq handed out and every alarm that is not back to normal
// (active, cleared but unacknowledged, or shelved).
type State struct {
	Seq    uint64           `json:"seq"`
	Alarms []contract.Alarm `json:"alarms"`
	// Normal lists the keys of alarms published before and now back to normal, so that a late or repeated
	// command for one is still understood (and does nothing) after a restart.
	Normal []string `json:"normal,omitempty"`
	// LatchedCleared lists latched alarms whose condition had already gone when the state was taken (they
	// wait for an acknowledgement only).
	LatchedCleared []string `json:"latched_cleared,omitempty"`
	// Learned is what the engine learned that a restart must not forget: baselines of above_baseline
	// rules, normal offsets of differential rules, and when alarms that composites remember were last
	// active. Older state files have none; the engine then learns afresh.
	Learned []Learned `json:"learned,omitempty"`
}

// Learned is the learned state of one alarm.
type Learned struct {
	Key string `json:"key"`
	// Baseline is the learned baseline or normal offset, in the channel's unit, as of At.
	Baseline *float64  `json:"baseline,omitempty"`
	At       time.Time `json:"at,omitzero"`
	// LastActive is when the alarm was last active, while a composite still remembers it.
	LastActive time.Time `json:"last_active,omitzero"`
}

// Snapshot returns the state to persist. It allocates; call it after a batch of transitions, not per
// reading.
func (e *Engine) Snapshot() State {
	st := State{Seq: e.seq, Alarms: []contract.Alarm{}}
	for _, s := range e.all {
		if s.r.internal {
			continue // never published: rebuilt from its inputs after a restart
		}
		if s.a.State != contract.Active && s.a.Acked && s.a.ShelvedUntil == nil {
			if s.published {
				st.Normal = append(st.Normal, s.a.Key)
			}
			continue
		}
		a := s.a
		if a.ShelvedUntil != nil {
			t := *a.ShelvedUntil
			a.ShelvedUntil = &t
		}
		st.Alarms = append(st.Alarms, a)
		if s.condCleared {
			st.LatchedCleared = append(st.LatchedCleared, a.Key)
		}
	}
	for _, s := range e.all {
		var l Learned
		if s.hasLearned {
			b := s.learned
			l.Baseline, l.At = &b, s.learnedAt
		}
		if len(s.r.withins) > 0 && !s.lastActive.IsZero() {
			last := s.lastActive
			if s.a.State == contract.Active {
				last = e.now // active until now: remembered from now on, even if not re-raised after a restart
			}
			if e.now.Sub(last) < slices.Max(s.r.withins) {
				l.LastActive = last
			}
		}
		if l.Baseline != nil || !l.LastActive.IsZero() {
			l.Key = s.a.Key
			st.Learned = append(st.Learned, l)
		}
	}
	return st
}

// Learns says whether some rule learns (a baseline, a normal offset, a composite's memory): its state then
// changes without transitions, and the caller should save a Snapshot now and then as well.
func (e *Engine) Learns() bool {
	for _, r := range e.rules {
		if r.kind == kindBaseline || (r.kind == kindDiff && r.learn > 0) || len(r.withins) > 0 {
			return true
		}
	}
	return false
}

// Restore loads a snapshot into a freshly built engine, before any Eval or Tick. Active alarms stay active
// without a new raise (their condition is assumed to hold until a reading says otherwise), acknowledgements
// and shelves are kept, and seq continues from where it was. Alarms whose rule is gone or no longer
// matches their sensor are cleared, with a transition, at the first evaluation.
func (e *Engine) Restore(st State) error {
	if e.started || e.seq != 0 {
		return errors.New("rules: Restore must come before the first Eval, Tick or Apply")
	}
	latched := map[string]bool{}
	for _, k := range st.LatchedCleared {
		latched[k] = true
	}
	seq := st.Seq
	byID := map[string]*rule{}
	for _, r := range e.rules {
		byID[r.id] = r
	}
	seen := map[string]bool{}
	for i := range st.Alarms {
		a := st.Alarms[i]
		if !contract.ValidKey(a.Key) || (a.State != contract.Active && a.State != contract.Cleared) {
			return fmt.Errorf("rules: restore: alarm %d: key %q state %q is not valid", i, contract.Printable(a.Key), a.State)
		}
		if seen[a.Key] {
			return fmt.Errorf("rules: restore: alarm %q appears twice", a.Key)
		}
		seen[a.Key] = true
		seq = max(seq, a.Seq)
		s := e.byKey[a.Key]
		if s == nil && a.Key == a.Rule+"/"+a.Sensor+"/"+a.Channel {
			s = e.restoreKey(byID, a.Key)
		}
		if s != nil && s.r.internal {
			s = nil
		}
		if s == nil {
			s = e.restoreSystem(a, latched[a.Key]) // the gateway's own alarms (system.go)
		}
		if s == nil {
			if a.State == contract.Active {
				e.orphans = append(e.orphans, a)
			}
			continue
		}
		// Keep what the operator saw; the rule's current severity and the gateway's names apply.
		a.Gateway, a.Site, a.Severity = e.opt.Gateway, e.opt.Site, s.r.severity
		if a.Labels == nil {
			a.Labels = s.a.Labels
		}
		if a.ShelvedUntil != nil {
			t := a.ShelvedUntil.UTC()
			a.ShelvedUntil = &t
		}
		if a.State == contract.Active && a.Episode == 0 {
			// Saved before alarms carried episodes: the last seq of the period stands for it from now on.
			a.Episode = a.Seq
		}
		s.a, s.published, s.base = a, true, a.Message
		s.condCleared = a.State == contract.Active && latched[a.Key] && s.r.latch
		s.cond = a.State == contract.Active && !s.condCleared
		s.hot = s.cond
		if a.State == contract.Active {
			s.r.active++
		}
	}
	for _, l := range st.Learned {
		s := e.byKey[l.Key]
		if s == nil {
			s = e.restoreKey(byID, l.Key)
		}
		if s == nil {
			continue
		}
		if l.Baseline != nil && !math.IsNaN(*l.Baseline) && !math.IsInf(*l.Baseline, 0) &&
			(s.r.kind == kindBaseline || (s.r.kind == kindDiff && s.r.learn > 0)) {
			s.learned, s.hasLearned, s.learnedAt = *l.Baseline, true, l.At
		}
		if !l.LastActive.IsZero() {
			s.lastActive = l.LastActive
			if s.raisedMsg == "" {
				s.raisedMsg = s.base
			}
		}
	}
	for _, k := range st.Normal {
		if seen[k] || !contract.ValidKey(k) || e.byKey[k] != nil {
			continue
		}
		if s := e.restoreKey(byID, k); s != nil {
			s.published = true
		}
	}
	e.seq = seq
	e.dirty = true
	return nil
}

// restoreKey builds the alarm of a restored key <rule>/<sensor>/<channel> whose channel has not been seen
// yet, if its rule still exists and matches; nil otherwise.
func (e *Engine) restoreKey(byID map[string]*rule, key string) *series {
	if !contract.ValidKey(key) {
		return nil
	}
	if s := e.byKey[key]; s != nil {
		return s
	}
	parts := strings.Split(key, "/")
	if len(parts) != 3 {
		return nil
	}
	r := byID[parts[0]]
	if r == nil || r.kind == kindComposite {
		return nil
	}
	sensor, ch := parts[1], reading.Channel(parts[2])
	if r.device {
		m := *r.cfg.Match
		m.Channel = ""
		if ch != DeviceChannel || !m.Matches(sensor, "", e.labels(sensor)) {
			return nil
		}
		return e.deviceSeries(r, sensor, copyLabels(e.labels(sensor)), time.Time{})
	}
	if !r.cfg.Match.Matches(sensor, ch, e.labels(sensor)) {
		return nil
	}
	return e.restoredSeries(r, sensor, ch)
}

func copyLabels(l map[string]string) map[string]string {
	out := make(map[string]string, len(l))
	for k, v := range l {
		out[k] = v
	}
	return out
}

// restoredSeries builds the alarm for a restored key whose channel has not been seen yet; newInput adopts
// it when the first reading comes.
func (e *Engine) restoredSeries(r *rule, sensor string, ch reading.Channel) *series {
	in := e.newInput(sensor, ch, time.Time{})
	for _, s := range in.series {
		if s.r == r {
			return s
		}
	}
	return nil
}
