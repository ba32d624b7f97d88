package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rackwatch/rackwatch/agent/alarm"
	"github.com/rackwatch/rackwatch/agent/reading"
)

// State is what survives a restart: the last seq handed out and every alarm that is not back to normal
// (active, cleared but unacknowledged, or shelved).
type State struct {
	Seq    uint64        `json:"seq"`
	Alarms []alarm.Alarm `json:"alarms"`
	// Normal lists the keys of alarms published before and now back to normal, so that a late or repeated
	// command for one is still understood (and does nothing) after a restart.
	Normal []string `json:"normal,omitempty"`
	// LatchedCleared lists latched alarms whose condition had already gone when the state was taken (they
	// wait for an acknowledgement only).
	LatchedCleared []string `json:"latched_cleared,omitempty"`
}

// Snapshot returns the state to persist. It allocates; call it after a batch of transitions, not per
// reading.
func (e *Engine) Snapshot() State {
	st := State{Seq: e.seq, Alarms: []alarm.Alarm{}}
	for _, s := range e.all {
		if s.a.State != alarm.Active && s.a.Acked && s.a.ShelvedUntil == nil {
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
	return st
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
		if !validKey(a.Key) || (a.State != alarm.Active && a.State != alarm.Cleared) {
			return fmt.Errorf("rules: restore: alarm %d: key %q state %q is not valid", i, printable(a.Key), a.State)
		}
		if seen[a.Key] {
			return fmt.Errorf("rules: restore: alarm %q appears twice", a.Key)
		}
		seen[a.Key] = true
		seq = max(seq, a.Seq)
		r := byID[a.Rule]
		s := e.byKey[a.Key]
		if s == nil && r != nil && r.kind != kindComposite && a.Key == a.Rule+"/"+a.Sensor+"/"+a.Channel &&
			r.cfg.Match.Matches(a.Sensor, reading.Channel(a.Channel), e.opt.Labels(a.Sensor)) {
			s = e.restoredSeries(r, a.Sensor, reading.Channel(a.Channel))
		}
		if s == nil {
			if a.State == alarm.Active {
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
		s.a, s.published, s.base = a, true, a.Message
		s.condCleared = a.State == alarm.Active && latched[a.Key] && s.r.latch
		s.cond = a.State == alarm.Active && !s.condCleared
		s.hot = s.cond
		if a.State == alarm.Active {
			s.r.active++
		}
	}
	for _, k := range st.Normal {
		if seen[k] || !validKey(k) || e.byKey[k] != nil {
			continue
		}
		parts := strings.Split(k, "/")
		if r := byID[parts[0]]; r != nil && len(parts) == 3 && r.kind != kindComposite &&
			r.cfg.Match.Matches(parts[1], reading.Channel(parts[2]), e.opt.Labels(parts[1])) {
			if s := e.restoredSeries(r, parts[1], reading.Channel(parts[2])); s != nil {
				s.published = true
			}
		}
	}
	e.seq = seq
	e.dirty = true
	return nil
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

// SaveState writes the state to path atomically: a temporary file in the same directory, fsync'd, renamed
// over the old one, and the directory fsync'd, so a power cut leaves either the old or the new state.
func SaveState(path string, st State) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("rules: save state: %w", err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("rules: save state: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rules: save state: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("rules: save state: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("rules: save state: sync %s: %w", dir, err)
	}
	return nil
}

// LoadState reads a state written by SaveState. A missing file is a first start: the zero State and no
// error.
func LoadState(path string) (State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("rules: load state: %w", err)
	}
	var st State
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return State{}, fmt.Errorf("rules: load state %s: %w", path, err)
	}
	return st, nil
}
