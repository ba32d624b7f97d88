package contract

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rackwatch/rackwatch/agent/reading"
)

// Command actions, as in the topics …/cmd/ack, …/cmd/shelve, …/cmd/unshelve and …/cmd/output-test.
const (
	Ack        = "ack"
	Shelve     = "shelve"
	Unshelve   = "unshelve"
	OutputTest = "output-test"
)

// Errors a command can fail with; the gateway answers them on …/cmd/result.
var (
	ErrBadCommand   = errors.New("bad command")
	ErrUnknownAlarm = errors.New("unknown alarm")
)

// MaxCommandSize bounds a command payload; a real one is a few hundred bytes. Receivers refuse a larger
// one before copying it.
const MaxCommandSize = 4096

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
