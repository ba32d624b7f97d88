package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/rackwatch/rackwatch/agent/reading"
)

// Command actions, as in the topics …/cmd/ack, …/cmd/shelve, …/cmd/unshelve and …/cmd/output-test.
const (
	Ack        = "ack"
	Shelve     = "shelve"
	Unshelve   = "unshelve"
	OutputTest = "output-test"
)

// maxCommandSize bounds a command payload; a real one is a few dozen bytes.
const maxCommandSize = 4096

// Errors a command can fail with; the gateway answers them on …/cmd/result.
var (
	ErrBadCommand   = errors.New("bad command")
	ErrUnknownAlarm = errors.New("unknown alarm")
)

// MaxCommandSize bounds a command payload; a real one is a few hundred bytes. Receivers refuse a larger
// one before copying it.
const MaxCommandSize = maxCommandSize

// Command is what an operator asked for: an acknowledgement, a shelve, an unshelve or an output test. The
// gateway builds it from a verified signed command (Signed.Command).
type Command struct {
	Kind  string    // Ack, Shelve, Unshelve or OutputTest
	Alarm string    // the alarm's key: "<rule>/<sensor>/<channel>" or "<rule>"
	By    string    // the verified operator, kept in the alarm (acked_by, shelved_by) and its message
	Until time.Time // Shelve: until when (Shelve with a zero Until unshelves)
	// Output and For: an output test.
	Output string
	For    time.Duration
	// Reason is the operator's note, added to the alarm's message.
	Reason string
	// At is when the operator signed it: a shelve's length is measured from there, on the operator's
	// own clock, so that a console a second ahead of the gateway can still ask for the longest shelve.
	At time.Time
	// ID is an optional correlation id, Nonce the signed command's nonce; both are echoed in the result.
	ID, Nonce string
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
		return c, fmt.Errorf("%s: %w: %s", kind, ErrBadCommand, fmt.Sprintf(format, args...))
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
	if !ValidKey(c.Alarm) {
		return bad("alarm %q is not an alarm key (<rule>/<sensor>/<channel> or <rule>)", Printable(c.Alarm))
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
			return bad("\"until\" %q is not an RFC 3339 time such as \"2026-11-25T06:00:00Z\"", Printable(s))
		}
		if t.IsZero() {
			return bad("\"until\" is the zero time; use null to unshelve")
		}
		c.Until = t
	}
	return c, nil
}

// ValidKey reports whether s has the form of an alarm key: one or three ids separated by '/'.
func ValidKey(s string) bool {
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

// Printable shortens s and replaces invalid UTF-8, for quoting outside input in messages.
func Printable(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}

// Result answers a command on …/cmd/result.
type Result struct {
	Command string `json:"command"`
	Alarm   string `json:"alarm,omitempty"`
	Output  string `json:"output,omitempty"`
	// Operator is the verified operator; empty when the command was refused before it was verified.
	Operator string `json:"operator,omitempty"`
	ID       string `json:"id,omitempty"`
	Nonce    string `json:"nonce,omitempty"`
	OK       bool   `json:"ok"`
	// Reason is why it was refused (Reason… constants); Error says it in a sentence.
	Reason string `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"`
}

// NewResult is the answer to command c, whose verification or execution error was err.
func NewResult(c Command, err error) Result {
	r := Result{Command: c.Kind, Alarm: c.Alarm, Output: c.Output, Operator: c.By, ID: c.ID, Nonce: c.Nonce, OK: err == nil}
	if err != nil {
		r.Reason, r.Error = ReasonOf(err), err.Error()
	}
	return r
}

// ParseResult reads a …/cmd/result payload (the console does).
func ParseResult(payload []byte) (Result, error) {
	var r Result
	if len(payload) > MaxCommandSize {
		return r, fmt.Errorf("contract: result of %d bytes is too large", len(payload))
	}
	err := json.Unmarshal(payload, &r)
	return r, err
}

// JSON is the payload on …/cmd/result:
// {"command":"ack","alarm":"…","operator":"alice","nonce":"…","ok":false,"reason":"replayed","error":"…"}.
func (r Result) JSON() []byte {
	b, _ := json.Marshal(r)
	return b
}
