package rules

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
)

// message builds the one sentence a pager shows as is: where, what, how far past which limit, and the
// value now. Messages are built only at transitions, never per reading.
func (e *Engine) message(s *series, now time.Time) string {
	r := s.r
	var b strings.Builder
	if r.cfg.Message != "" {
		b.WriteString(r.cfg.Message)
		b.WriteString(": ")
	}
	if r.kind == kindComposite {
		e.compositeMessage(&b, s, now)
		return b.String()
	}
	if room := s.a.Labels["room"]; room != "" {
		b.WriteString(room)
		b.WriteByte(' ')
	}
	b.WriteString(s.a.Sensor)
	if !r.device {
		b.WriteByte(' ')
		b.WriteString(s.a.Channel)
	}
	active := s.a.State == contract.Active && !s.condCleared
	switch r.kind {
	case kindDiff:
		e.diffMessage(&b, s, active, now)
	case kindBaseline:
		if active {
			b.WriteByte(' ')
			b.WriteString(quantity(s.value, s.unit))
			b.WriteString(", above its baseline ")
			b.WriteString(quantity(s.learned, s.unit))
			b.WriteString(" (limit ")
			b.WriteString(quantity(s.thr, s.unit))
			b.WriteString(": ")
			b.WriteString(fmtNum(r.ratio))
			b.WriteString("× and +")
			b.WriteString(quantity(r.minRise, s.unit))
			b.WriteString(")")
			writeFor(&b, r)
		} else {
			b.WriteString(" back to normal, now ")
			b.WriteString(quantity(s.value, s.unit))
			b.WriteString(" (baseline ")
			b.WriteString(quantity(s.learned, s.unit))
			b.WriteString(")")
		}
	case kindStuck:
		if active {
			b.WriteString(" stuck at ")
			b.WriteString(quantity(s.stuckAt, s.unit))
			b.WriteString(" for ")
			b.WriteString(fmtDur(now.Sub(s.stuckSince).Round(time.Second)))
			b.WriteString(" (no change beyond ")
			b.WriteString(quantity(r.res, s.unit))
			b.WriteString("): check the sensor")
		} else {
			b.WriteString(" changing again, now ")
			b.WriteString(quantity(s.value, s.unit))
		}
	case kindLevel:
		if active {
			b.WriteByte(' ')
			b.WriteString(quantity(s.value, s.unit))
			if r.up {
				b.WriteString(", above ")
			} else {
				b.WriteString(", below ")
			}
			b.WriteString(quantity(r.threshold, s.unit))
			writeFor(&b, r)
		} else {
			b.WriteString(" back to normal, now ")
			b.WriteString(quantity(s.value, s.unit))
		}
	case kindState:
		if active {
			if r.up {
				b.WriteString(" active")
			} else {
				b.WriteString(" inactive")
			}
		} else {
			b.WriteString(" back to normal")
		}
	case kindRate:
		ru := rateUnit(s.unit, r.perName)
		if active {
			if s.rate >= 0 {
				b.WriteString(" rising ")
			} else {
				b.WriteString(" falling ")
			}
			b.WriteString(quantity(math.Abs(s.rate), ru))
			b.WriteString(" (limit ")
			lim := r.threshold
			if !r.up && lim < 0 {
				lim = -lim
			}
			b.WriteString(quantity(lim, ru))
			b.WriteString(" over ")
			b.WriteString(fmtDur(r.window))
			b.WriteString(")")
		} else {
			b.WriteString(" rate back to normal, ")
			b.WriteString(quantity(s.rate, ru))
		}
		if s.hasValue {
			b.WriteString(", now ")
			b.WriteString(quantity(s.value, s.unit))
		}
	case kindStale:
		if active {
			if r.device {
				b.WriteString(" silent: no good reading on any channel for ")
			} else {
				b.WriteString(" silent: no good reading for ")
			}
			b.WriteString(fmtDur(now.Sub(s.staleRef()).Round(time.Second)))
			b.WriteString(" (limit ")
			b.WriteString(fmtDur(r.stale))
			b.WriteString(")")
			if s.lastGood.IsZero() {
				b.WriteString(", none since start")
			}
			if s.lastErr != nil {
				b.WriteString("; last error: ")
				b.WriteString(oneLine(s.lastErr.Error()))
			}
		} else {
			b.WriteString(" reading again")
			if s.hasValue && !r.device {
				b.WriteString(", now ")
				b.WriteString(quantity(s.value, s.unit))
			}
		}
	}
	if s.condCleared {
		b.WriteString("; latched until acknowledged")
	}
	return b.String()
}

func writeFor(b *strings.Builder, r *rule) {
	if r.forD > 0 {
		b.WriteString(" for ")
		b.WriteString(fmtDur(r.forD))
	}
}

// diffMessage describes a differential alarm: the value, how far from the reference beyond its normal
// offset, and what the reference is.
func (e *Engine) diffMessage(b *strings.Builder, s *series, active bool, now time.Time) {
	r := s.r
	name := "the median of " + strconv.Itoa(s.nref) + " others"
	if s.nref == 1 {
		for _, in := range r.refInputs {
			if in.sensor != s.in.sensor && !in.at.IsZero() && now.Sub(in.at) <= gap(in) {
				name = in.sensor
				if in.ch != s.in.ch {
					name += " " + string(in.ch)
				}
				break
			}
		}
	}
	b.WriteByte(' ')
	b.WriteString(quantity(s.value, s.unit))
	if active {
		b.WriteString(", ")
		b.WriteString(quantity(math.Abs(s.excess), s.unit))
		if s.excess >= 0 {
			b.WriteString(" above ")
		} else {
			b.WriteString(" below ")
		}
		b.WriteString(name)
		b.WriteString(" (")
		b.WriteString(quantity(s.ref, s.unit))
		if r.learn > 0 {
			b.WriteString(", normal difference ")
			if s.learned >= 0 {
				b.WriteByte('+')
			}
			b.WriteString(quantity(s.learned, s.unit))
		}
		b.WriteString("; limit ")
		b.WriteString(quantity(r.threshold, s.unit))
		b.WriteString(")")
		writeFor(b, r)
		return
	}
	b.WriteString(", back in line with ")
	b.WriteString(name)
	b.WriteString(" (")
	b.WriteString(quantity(s.ref, s.unit))
	b.WriteString(")")
}

func (e *Engine) compositeMessage(b *strings.Builder, s *series, now time.Time) {
	r := s.r
	if r.cfg.Message == "" {
		b.WriteString(r.id)
		b.WriteString(": ")
	}
	active := s.a.State == contract.Active && !s.condCleared
	if !active {
		b.WriteString("conditions no longer met")
		if s.condCleared {
			b.WriteString("; latched until acknowledged")
		}
		return
	}
	switch {
	case r.all:
		b.WriteString("all of ")
	case r.atLeast > 1:
		b.WriteString("at least ")
		b.WriteString(strconv.Itoa(r.atLeast))
		b.WriteString(" of ")
	default:
		b.WriteString("any of ")
	}
	for i, ref := range r.refs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(ref.id)
	}
	if r.distinct {
		b.WriteString(" on ")
		b.WriteString(strconv.Itoa(len(r.sensors)))
		b.WriteString(" sensors")
	}
	if r.within > 0 {
		b.WriteString(" within ")
		b.WriteString(fmtDur(r.within))
	} else {
		b.WriteString(" active")
	}
	// Name the sensor alarms behind the active inputs (through nested composites), so the page says
	// which sensors and how far.
	var msgs []string
	e.leafMessages(r, r.within, now, map[*rule]bool{}, &msgs)
	const most = 4
	for i, m := range msgs {
		if i == most {
			b.WriteString("; and ")
			b.WriteString(strconv.Itoa(len(msgs) - most))
			b.WriteString(" more")
			break
		}
		if i == 0 {
			b.WriteString(" (")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(m)
	}
	if len(msgs) > 0 {
		b.WriteString(")")
	}
}

// leafMessages describes, as of now, the non-composite alarms under composite r that count (active, or
// remembered within).
func (e *Engine) leafMessages(r *rule, within time.Duration, now time.Time, seen map[*rule]bool, msgs *[]string) {
	for _, ref := range r.refs {
		if !ref.counts(now, within) || seen[ref] {
			continue
		}
		seen[ref] = true
		if ref.kind == kindComposite {
			e.leafMessages(ref, max(within, ref.within), now, seen, msgs)
			continue
		}
		for _, s := range ref.series {
			if !s.counts(now, within) {
				continue
			}
			m := s.base
			if s.a.State != contract.Active {
				said := s.raisedMsg
				if said == "" {
					said = s.a.Key + " active" // remembered across a restart
				}
				m = said + " (until " + fmtDur(now.Sub(s.lastActive).Round(time.Second)) + " ago)"
			} else if s.hasValue || s.r.kind == kindStale {
				m = e.message(s, now)
			}
			*msgs = append(*msgs, m)
		}
	}
}

// quantity formats a value and its unit the way a person writes it: "41.2 °C", "3.12 °C/min", "0.165 %".
func quantity(v float64, unit string) string {
	s := fmtNum(v)
	if unit == "" {
		return s
	}
	return s + " " + unit
}

// fmtNum keeps the digits that matter: two decimals below 100, one above, three significant digits below 1.
func fmtNum(v float64) string {
	a := math.Abs(v)
	var s string
	switch {
	case v == 0 || math.IsNaN(v) || math.IsInf(v, 0):
		s = strconv.FormatFloat(v, 'f', -1, 64)
	case a >= 100:
		s = strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		s = strconv.FormatFloat(v, 'f', 2, 64)
	default:
		s = strconv.FormatFloat(v, 'g', 3, 64)
		if strings.ContainsAny(s, "e") {
			s = strconv.FormatFloat(v, 'f', -1, 64)
		}
		return s
	}
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

// fmtDur writes a duration without Go's zero parts: 2m rather than 2m0s.
func fmtDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// perName names the rate's time base: "min" for per: 1m, "h" for 1h, else the duration itself.
func perName(per time.Duration) string {
	switch per {
	case time.Second:
		return "s"
	case time.Minute:
		return "min"
	case time.Hour:
		return "h"
	}
	return fmtDur(per)
}

func rateUnit(unit, per string) string {
	if unit == "" {
		return "/" + per
	}
	return unit + "/" + per
}

// oneLine keeps a driver's error text to one short line for a pager.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}
