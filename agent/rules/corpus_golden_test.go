package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/reading"
)

// sensorHealth are the shipped rules about the sensors themselves: a stuck or dead sensor is a true
// alarm, not a false fire alarm, and is counted apart.
var sensorHealth = map[string]bool{"sensor-dead": true, "sensor-stuck": true, "offgas-stuck": true}

// corpusRun is one trace replayed through the shipped rules.
type corpusRun struct {
	c        corpusTrace
	timeline string
	alarms   []contract.Alarm
	smokeAt  time.Time // first smoke reading, zero if none
	det      detectors
}

func runCorpus(t *testing.T, c corpusTrace) corpusRun {
	t.Helper()
	data, det := c.generate()
	cfg := loadConfig(t, filepath.Join("..", "..", "configs", "battery-room.yaml"))
	var out bytes.Buffer
	if _, _, err := Replay(cfg.engine(t), bytes.NewReader(data), &out, false); err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	run := corpusRun{c: c, timeline: out.String(), det: det}
	// The same replay, keeping the alarms and the first smoke.
	e := cfg.engine(t)
	tr, err := NewTrace(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for {
		r, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for {
			next := e.Next()
			if next.IsZero() || next.After(r.At) {
				break
			}
			n := len(run.alarms)
			run.alarms = e.Tick(next, run.alarms)
			if len(run.alarms) == n && !e.Next().After(next) {
				break
			}
		}
		if r.Channel == reading.Smoke && r.Good() && r.Value >= 0.5 && run.smokeAt.IsZero() {
			run.smokeAt = r.At
		}
		run.alarms = e.Eval(&r, run.alarms)
	}
	return run
}

// first returns the first raise matching keep, or nil.
func (r *corpusRun) first(keep func(a *contract.Alarm) bool) *contract.Alarm {
	for i := range r.alarms {
		a := &r.alarms[i]
		if a.Event == contract.EventRaise && keep(a) {
			return a
		}
	}
	return nil
}

func (r *corpusRun) firstSeverity(sev string) *contract.Alarm {
	return r.first(func(a *contract.Alarm) bool { return a.Severity == sev && !sensorHealth[a.Rule] })
}

// count counts raises by kind: fire-related warnings and criticals, and sensor-health warnings.
func (r *corpusRun) count() (warnings, criticals, health int) {
	for _, a := range r.alarms {
		switch {
		case a.Event != contract.EventRaise:
		case sensorHealth[a.Rule]:
			health++
		case a.Severity == contract.Critical:
			criticals++
		case a.Severity == contract.Warning:
			warnings++
		}
	}
	return
}

// TestCorpus replays every trace of the corpus through the shipped battery-room rules, unchanged between
// traces, compares each timeline with its golden file, and holds the rules to their promises: a critical
// before runaway on the near-sensor NMC and LFP traces; the fire alarm at most 5 s after smoke on every
// fire trace, never cleared; no critical on any nuisance; nothing at all on a normal day. It also checks
// the table in docs/rules.md. go test -run Corpus -update rewrites the goldens and the table.
func TestCorpus(t *testing.T) {
	if *corpusOut != "" {
		if err := writeCorpus(*corpusOut); err != nil {
			t.Fatal(err)
		}
	}
	var runs []corpusRun
	for _, c := range theCorpus() {
		run := runCorpus(t, c)
		runs = append(runs, run)
		path := filepath.Join("testdata", "corpus", c.name+".timeline")
		if *update {
			if err := os.WriteFile(path, []byte(run.timeline), 0o644); err != nil {
				t.Fatal(err)
			}
		} else if want, err := os.ReadFile(path); err != nil {
			t.Errorf("%v (go test -run Corpus -update creates it)", err)
		} else if string(want) != run.timeline {
			t.Errorf("%s differs (go test -run Corpus -update rewrites it):\n%s", path, DiffLines(string(want), run.timeline))
		}
		R := corpusStart.Add(c.runaway)
		switch {
		case c.fire:
			if strings.HasSuffix(c.name, "-near") {
				if cr := run.firstSeverity(contract.Critical); cr == nil || !cr.Time.Before(R) {
					t.Errorf("%s: no critical before runaway at %s:\n%s", c.name, R.Format(time.TimeOnly), run.timeline)
				}
			}
			fa := run.first(func(a *contract.Alarm) bool { return a.Rule == "fire-alarm" })
			if run.smokeAt.IsZero() || fa == nil || fa.Time.Sub(run.smokeAt) > 5*time.Second {
				t.Errorf("%s: smoke at %v, fire alarm %v: want it within 5 s", c.name, run.smokeAt, fa)
			}
			for _, a := range run.alarms {
				if a.Rule == "fire-alarm" && a.State != contract.Active {
					t.Errorf("%s: the fire alarm cleared while smoke is latched: %s", c.name, fmtAlarm(a))
				}
			}
		case c.name == "normal-day":
			if run.timeline != "" {
				t.Errorf("a normal day raised:\n%s", run.timeline)
			}
		default:
			if _, crit, _ := run.count(); crit > 0 {
				t.Errorf("%s: a nuisance raised a critical:\n%s", c.name, run.timeline)
			}
		}
	}
	table := corpusTable(runs)
	path := filepath.Join("testdata", "corpus", "summary.md")
	if *update {
		if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
			t.Fatal(err)
		}
	} else if want, err := os.ReadFile(path); err != nil || string(want) != table {
		t.Errorf("%s differs (go test -run Corpus -update rewrites it):\n%s", path, DiffLines(string(want), table))
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "rules.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(doc, []byte(table)) {
		t.Errorf("docs/rules.md lacks the corpus table; paste testdata/corpus/summary.md into it:\n%s", table)
	}
}

// rel writes a time relative to runaway (or to smoke): "−9.5 min", "+45 s", "never".
func rel(at, ref time.Time) string {
	if at.IsZero() {
		return "never"
	}
	d := at.Sub(ref)
	sign := "+"
	if d < 0 {
		sign, d = "−", -d
	}
	if d < 2*time.Minute {
		return fmt.Sprintf("%s%d s", sign, int(d.Seconds()))
	}
	return fmt.Sprintf("%s%.1f min", sign, d.Minutes())
}

func alarmTime(a *contract.Alarm) time.Time {
	if a == nil {
		return time.Time{}
	}
	return a.Time
}

func detTime(sec float64) time.Time {
	if sec < 0 {
		return time.Time{}
	}
	return corpusStart.Add(time.Duration(sec * float64(time.Second)))
}

// corpusTable is the table docs/rules.md shows.
func corpusTable(runs []corpusRun) string {
	var b strings.Builder
	b.WriteString("| fire trace | first warning | first critical | fire alarm after smoke | 57 °C fixed heat | 8.3 °C/min rate of rise | smoke detector |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range runs {
		if !r.c.fire {
			continue
		}
		R := corpusStart.Add(r.c.runaway)
		fa := r.first(func(a *contract.Alarm) bool { return a.Rule == "fire-alarm" })
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s | %s |\n", r.c.name,
			rel(alarmTime(r.firstSeverity(contract.Warning)), R), rel(alarmTime(r.firstSeverity(contract.Critical)), R),
			strings.TrimPrefix(rel(alarmTime(fa), r.smokeAt), "+"),
			rel(detTime(r.det.fixed), R), rel(detTime(r.det.ror), R), rel(detTime(r.det.smoke), R))
	}
	b.WriteString("\n| nuisance trace | hours | warnings | criticals | sensor warnings | 57 °C fixed heat | 8.3 °C/min rate of rise | smoke detector |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	var hours float64
	var tw, tc, th, tf, tr, ts int
	yes := func(sec float64, n *int) string {
		if sec < 0 {
			return "0"
		}
		*n++
		return "1"
	}
	for _, r := range runs {
		if r.c.fire {
			continue
		}
		w, c, h := r.count()
		hours += r.c.hours
		tw, tc, th = tw+w, tc+c, th+h
		fmt.Fprintf(&b, "| `%s` | %g | %d | %d | %d | %s | %s | %s |\n", r.c.name, r.c.hours, w, c, h,
			yes(r.det.fixed, &tf), yes(r.det.ror, &tr), yes(r.det.smoke, &ts))
	}
	per := func(n int) string { return fmt.Sprintf("%.1f", float64(n)*24/hours) }
	fmt.Fprintf(&b, "| **per 24 h** | %g | %s | %s | %s | %s | %s | %s |\n", hours, per(tw), per(tc), per(th), per(tf), per(tr), per(ts))
	return b.String()
}
