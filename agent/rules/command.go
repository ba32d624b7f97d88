package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/rackwatch/rackwatch/agent/alarm"
	"github.com/rackwatch/rackwatch/agent/reading"
)

// Command kinds, as in the topics …/cmd/ack and …/cmd/shelve.
const (
	Ack    = "ack"
	Shelve = "shelve"
)

// MaxShelve is the longest an alarm may be shelved: shelving is for maintenance, and a forgotten shelve
// must not silence a battery room for good.
const MaxShelve = 7 * 24 * time.Hour

// maxCommandSize bounds a command payload; a real one is a few dozen bytes.
const maxCommandSize = 4096

// Errors a command can fail with; the agent answers them on …/cmd/result.
var (
	ErrBadCommand   = errors.New("bad command")
	ErrUnknownAlarm = errors.New("unknown alarm")
)

// Command is an acknowledgement or a shelve received over MQTT.
type Command struct {
	Kind  string    // Ack or Shelve
	Alarm string    // the alarm's key: "<rule>/<sensor>/<channel>" or "<rule>"
	By    string    // who sent it, kept in the alarm (acked_by) and its message
	Until time.Time // Shelve: until when; zero unshelves
	// ID is an optional correlation id echoed in the result.
	ID string
}

type commandWire struct {
	Alarm *string          `json:"alarm"`
	By    *string          `json:"by"`
	Until *json.RawMessage `json:"until"`
	ID    *string          `json:"id"`
}

// ParseCommand decodes the payload of a …/cmd/ack or …/cmd/shelve message:
// {"alarm":"<rule>/<sensor>/<channel>","by":"…","until":"2026-11-25T06:00:00Z"}. It is strict: unknown keys,
// a missing alarm or by, an until on an ack, or trailing data are errors wrapping ErrBadCommand.
// A shelve's until is an RFC 3339 time; null or absent unshelves.
func ParseCommand(kind string, payload []byte) (Command, error) {
	c := Command{Kind: kind}
	bad := func(format string, args ...any) (Command, error) {
		return c, fmt.Errorf("rules: %s: %w: %s", kind, ErrBadCommand, fmt.Sprintf(format, args...))
	}
	if kind != Ack && kind != Shelve {
		c.Kind = ""
		return bad("unknown command (use ack or shelve)")
	}
	if len(payload) > maxCommandSize {
		return bad("payload of %d bytes is too large", len(payload))
	}
	var w commandWire
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return bad("payload is not the expected JSON object: %v", err)
	}
	if dec.More() {
		return bad("trailing data after the JSON object")
	}
	if w.Alarm == nil || *w.Alarm == "" {
		return bad("\"alarm\" is required, e.g. \"batt-heating/ups1/battery_temp\"")
	}
	c.Alarm = *w.Alarm
	if !validKey(c.Alarm) {
		return bad("alarm %q is not an alarm key (<rule>/<sensor>/<channel> or <rule>)", printable(c.Alarm))
	}
	if w.By == nil || strings.TrimSpace(*w.By) == "" {
		return bad("\"by\" is required: who sends the command")
	}
	if len(*w.By) > 64 || strings.IndexFunc(*w.By, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return bad("\"by\" must be printable and at most 64 bytes")
	}
	c.By = *w.By
	if w.ID != nil {
		if len(*w.ID) > 64 || strings.IndexFunc(*w.ID, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
			return bad("\"id\" must be printable and at most 64 bytes")
		}
		c.ID = *w.ID
	}
	if w.Until != nil && string(*w.Until) != "null" {
		if kind == Ack {
			return bad("\"until\" applies only to shelve")
		}
		var s string
		if err := json.Unmarshal(*w.Until, &s); err != nil {
			return bad("\"until\" must be an RFC 3339 time string such as \"2026-11-25T06:00:00Z\"")
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return bad("\"until\" %q is not an RFC 3339 time such as \"2026-11-25T06:00:00Z\"", printable(s))
		}
		if t.IsZero() {
			return bad("\"until\" is the zero time; use null to unshelve")
		}
		c.Until = t
	}
	return c, nil
}

// validKey reports whether s has the form of an alarm key: one or three ids separated by '/'.
func validKey(s string) bool {
	parts := strings.Split(s, "/")
	if len(parts) != 1 && len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if !reading.ValidID(p) {
			return false
		}
	}
	return true
}

func printable(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}

// Apply carries out a command at now and appends its transitions to out. An unknown alarm, a shelve in the
// past or longer than MaxShelve is an error and changes nothing. Repeating a command that has already taken
// effect (a redelivered ack) is not an error and makes no transition.
func (e *Engine) Apply(c Command, now time.Time, out []alarm.Alarm) ([]alarm.Alarm, error) {
	s := e.byKey[c.Alarm]
	if s == nil {
		return out, fmt.Errorf("rules: %s %q: %w", c.Kind, printable(c.Alarm), ErrUnknownAlarm)
	}
	switch c.Kind {
	case Ack:
		out = e.begin(now, out)
		out = e.ack(s, c.By, now, out)
	case Shelve:
		if c.Until.IsZero() {
			out = e.begin(now, out)
			if s.a.ShelvedUntil != nil {
				out = e.unshelve(s, now, "unshelved by "+c.By, out)
			}
			break
		}
		if !c.Until.After(now) {
			return out, fmt.Errorf("rules: shelve %q: %w: until %s is not in the future", c.Alarm, ErrBadCommand, c.Until.UTC().Format(alarm.TimeFormat))
		}
		if c.Until.Sub(now) > MaxShelve {
			return out, fmt.Errorf("rules: shelve %q: %w: until is more than %s away", c.Alarm, ErrBadCommand, fmtDur(MaxShelve))
		}
		out = e.begin(now, out)
		until := c.Until.UTC()
		s.a.ShelvedUntil = &until
		e.describe(s, now)
		s.a.Message += "; shelved by " + c.By + " until " + until.Format(alarm.TimeFormat)
		out = e.emit(s, alarm.EventShelve, now, true, out)
	default:
		return out, fmt.Errorf("rules: %w: unknown command %q", ErrBadCommand, c.Kind)
	}
	if e.dirty {
		out = e.evalComposites(now, out)
	}
	return out, nil
}

func (e *Engine) ack(s *series, by string, now time.Time, out []alarm.Alarm) []alarm.Alarm {
	if s.a.Acked {
		return out
	}
	s.a.Acked, s.a.AckedBy = true, by
	e.describe(s, now)
	s.a.Message += "; acknowledged by " + by
	out = e.emit(s, alarm.EventAck, now, true, out)
	if s.condCleared {
		// A latched alarm whose condition is gone clears once acknowledged.
		out = e.clear(s, now, true, out)
	}
	return out
}

func (e *Engine) unshelve(s *series, now time.Time, why string, out []alarm.Alarm) []alarm.Alarm {
	s.a.ShelvedUntil = nil
	e.describe(s, now)
	s.a.Message += "; " + why
	return e.emit(s, alarm.EventUnshelv, now, true, out)
}

type resultWire struct {
	Kind  string `json:"command"`
	Alarm string `json:"alarm"`
	ID    string `json:"id,omitempty"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// Result is the payload for …/cmd/result answering command c, whose parse or Apply error was err:
// {"command":"ack","alarm":"…","id":"…","ok":false,"error":"…"}.
func Result(c Command, err error) []byte {
	w := resultWire{Kind: c.Kind, Alarm: c.Alarm, ID: c.ID, OK: err == nil}
	if err != nil {
		w.Error = err.Error()
	}
	b, _ := json.Marshal(w)
	return b
}
