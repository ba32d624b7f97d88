package view

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/reading"
)

// Printer writes lines to W. It is safe for concurrent use.
type Printer struct {
	W     io.Writer
	Color bool
	// ShowGateway prefixes each line with the gateway id (tail over several gateways).
	ShowGateway bool
	// Loc is the time zone of the time column; local time when nil.
	Loc *time.Location

	mu  sync.Mutex
	buf []byte
}

// New returns a Printer on f that colours its output when f is a terminal.
func New(f *os.File) *Printer { return &Printer{W: f, Color: IsTerminal(f)} }

// IsTerminal reports whether f is a character device and colour is not turned off by NO_COLOR or
// TERM=dumb.
func IsTerminal(f *os.File) bool {
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

const (
	reset  = "\x1b[0m"
	bold   = "\x1b[1m"
	dim    = "\x1b[2m"
	red    = "\x1b[31m"
	green  = "\x1b[32m"
	yellow = "\x1b[33m"
	cyan   = "\x1b[36m"
)

func (p *Printer) paint(b []byte, color, s string) []byte {
	if p.Color && color != "" {
		b = append(b, color...)
		b = append(b, s...)
		return append(b, reset...)
	}
	return append(b, s...)
}

func (p *Printer) stamp(b []byte, t time.Time) []byte {
	loc := p.Loc
	if loc == nil {
		loc = time.Local
	}
	if t.IsZero() {
		t = time.Now()
	}
	return p.paint(b, dim, t.In(loc).Format("2006-01-02 15:04:05.000"))
}

func (p *Printer) gateway(b []byte, gw string) []byte {
	if p.ShowGateway && gw != "" {
		b = p.paint(b, dim, pad(gw, 14))
		b = append(b, ' ')
	}
	return b
}

func pad(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return s + strings.Repeat(" ", n-len(s))
}

func (p *Printer) emit(b []byte) {
	b = append(b, '\n')
	p.W.Write(b)
}

// label is the severity column: what an operator must look at first.
func label(a *contract.Alarm) (string, string) {
	switch {
	case a.State == contract.Cleared && a.Event == contract.EventClear:
		return "CLEARED", green
	case a.Event == contract.EventAck:
		return "ACKED", cyan
	case a.Event == contract.EventShelve:
		return "SHELVED", cyan
	case a.Event == contract.EventUnshelv:
		return "UNSHELVED", cyan
	}
	switch a.Severity {
	case contract.Critical:
		return "CRITICAL", bold + red
	case contract.Warning:
		return "WARNING", yellow
	}
	return strings.ToUpper(a.Severity), cyan
}

// Alarm writes one alarm transition:
//
//	2026-11-25 03:00:01.000  CRITICAL   batt-heating/ups1/battery_temp  Battery of ups1 heating 2.4 °C/min  #12
func (p *Printer) Alarm(a *contract.Alarm) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.stamp(p.buf[:0], a.Time)
	b = append(b, "  "...)
	b = p.gateway(b, a.Gateway)
	l, c := label(a)
	b = p.paint(b, c, pad(l, 9))
	b = append(b, "  "...)
	b = p.paint(b, bold, a.Key)
	b = append(b, "  "...)
	msg := a.Message
	if msg == "" {
		msg = a.Rule + " " + a.State
	}
	b = append(b, msg...)
	if a.State == contract.Active && a.Acked && a.Event != contract.EventAck {
		b = append(b, " (acknowledged)"...)
	}
	if a.ShelvedUntil != nil && a.Event != contract.EventShelve {
		b = append(b, " (shelved)"...)
	}
	b = p.paint(b, dim, "  #"+strconv.FormatUint(a.Seq, 10))
	p.buf = b
	p.emit(b)
}

// Reading writes one reading: "… reading    r12.inlet/temperature = 24.3 °C", the name of a named
// state ("batt-room.smoke/smoke = DETECTED"), or BAD with the reason. The value is shown as the gateway
// rounded it.
func (p *Printer) Reading(gateway, sensor, channel string, r *contract.Reading) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.stamp(p.buf[:0], r.At())
	b = append(b, "  "...)
	b = p.gateway(b, gateway)
	b = p.paint(b, dim, pad("reading", 9))
	b = append(b, "  "...)
	b = append(b, sensor...)
	b = append(b, '/')
	b = append(b, channel...)
	if r.Quality == contract.Bad || r.Value == nil {
		reason := "no value"
		if r.Error != nil && *r.Error != "" {
			reason = *r.Error
		}
		b = p.paint(b, yellow, " BAD: "+reason)
	} else {
		b = append(b, " = "...)
		switch name, named := stateName(channel, r); {
		case named:
			c := ""
			if alarming(name) {
				c = bold
			}
			b = p.paint(b, c, name)
		default:
			b = strconv.AppendFloat(b, *r.Value, 'f', -1, 64)
			if r.Unit != "" {
				b = append(b, ' ')
				b = append(b, r.Unit...)
			}
		}
	}
	p.buf = b
	p.emit(b)
}

// stateName is the name of a reading's state: the one the gateway sent, or for a well-known boolean
// channel (from a gateway that sends none) its usual name.
func stateName(channel string, r *contract.Reading) (string, bool) {
	if r.State != nil && *r.State != "" {
		return *r.State, true
	}
	f := reading.Format{States: reading.States(reading.Channel(channel))}
	return f.State(*r.Value)
}

// alarming: the names of alarming states are written in capitals (DETECTED, ON BATTERY).
func alarming(name string) bool {
	return name != "" && strings.ToUpper(name) == name && strings.ToLower(name) != name
}

// Status writes a gateway's status change.
func (p *Printer) Status(gateway string, s *contract.Status) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.stamp(p.buf[:0], s.At())
	b = append(b, "  "...)
	c := green
	if s.State != contract.Online {
		c = bold + red
	}
	b = p.paint(b, c, pad(strings.ToUpper(s.State), 9))
	b = append(b, "  "...)
	b = append(b, fmt.Sprintf("gateway %s is %s", gateway, s.State)...)
	if s.Version != "" {
		b = p.paint(b, dim, " (rackwatch "+s.Version+")")
	}
	p.buf = b
	p.emit(b)
}

// Note writes a free-form line (connection changes of tail itself).
func (p *Printer) Note(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.stamp(p.buf[:0], time.Now())
	b = append(b, "  "...)
	b = p.paint(b, dim, fmt.Sprintf(format, args...))
	p.buf = b
	p.emit(b)
}

// FromReading turns an agent reading into the readings payload, written as f says (rounded, its state
// named), for printing readings without MQTT.
func FromReading(r *reading.Reading, f *reading.Format) *contract.Reading {
	out := &contract.Reading{Unit: f.Unit, Quality: r.Quality.String(), Time: r.At.UTC().Format(contract.TimeFormat)}
	if r.Good() {
		v := f.Round(r.Value)
		out.Value = &v
		if name, ok := f.State(r.Value); ok {
			out.State = &name
		}
	} else {
		e := r.ErrText()
		out.Error = &e
	}
	return out
}
