package contract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// KindActionEvent is the "kind" of an action event on …/events. Alarm transitions on the same topic carry
// no "kind": a consumer tells the two apart by it (ParseEvent).
const KindActionEvent = "action"

// States an action event reports. An output is switched on or off; the shutdown sequence (output
// "shutdown") is pending, cancelled, started (the journal's last gasp) or runs its command.
const (
	OutputOn          = "on"
	OutputOff         = "off"
	ShutdownPending   = "pending"
	ShutdownCancelled = "cancelled"
	ShutdownStarted   = "started"
	ShutdownCommand   = "command"
)

// Results of an action.
const (
	ResultOK     = "ok"
	ResultFailed = "failed"
	// ResultDryRun: actions.dry_run is set; the device was not touched.
	ResultDryRun = "dry_run"
)

// Who caused an action: the rules, the shutdown sequence, or an operator's output test ("test:<who>").
const (
	ByRules    = "rules"
	ByShutdown = "shutdown"
	ByTest     = "test"
)

// ShutdownOutput is the output name of the shutdown sequence's events.
const ShutdownOutput = "shutdown"

// Action is an action event: what the gateway did to one of its outputs (a relay, a sounder, a Modbus
// write, a NUT instant command, an exec hook) or in its shutdown sequence, and how it went. It is
// journaled and published on …/events like an alarm transition, so the central side sees what the gateway
// did even when it did it offline. Action events have no seq; they are deduplicated by (gateway, id).
type Action struct {
	Gateway string
	Site    string
	// ID is unique per gateway: "<output>/<unix nanoseconds>".
	ID string
	// Output is the output's id in the config, or ShutdownOutput.
	Output string
	// Type is the output's type (gpio, bridge, modbus, nut, exec, sim) or "shutdown".
	Type string
	// Role is the output's role (sounder, beacon) when the config gives one.
	Role string
	// State is OutputOn or OutputOff, or a Shutdown… state.
	State string
	// Result is ResultOK, ResultFailed or ResultDryRun; Error says why it failed.
	Result string
	Error  string
	// Detail is what the device said: "GPIO22 high, read back high", "coil 4609 = 0, read back 0".
	Detail string
	// Took is how long driving the device took.
	Took time.Duration
	// Latency is from the alarm transition that caused the action to the end of this action (zero when no
	// transition caused it).
	Latency time.Duration
	DryRun  bool
	// By is ByRules, ByShutdown or "test:<who>".
	By string
	// The alarm transition that caused the action, when one did.
	Alarm    string
	Rule     string
	Severity string
	AlarmSeq uint64
	Episode  uint64
	Time     time.Time
	// Message is one human sentence.
	Message string
}

type actionWire struct {
	Kind      string   `json:"kind"`
	Gateway   string   `json:"gateway"`
	Site      string   `json:"site"`
	ID        string   `json:"id"`
	Output    string   `json:"output"`
	Type      string   `json:"type"`
	Role      string   `json:"role,omitempty"`
	State     string   `json:"state"`
	Result    string   `json:"result"`
	Error     *string  `json:"error"`
	Detail    string   `json:"detail,omitempty"`
	TookMS    float64  `json:"took_ms"`
	LatencyMS *float64 `json:"latency_ms"`
	DryRun    bool     `json:"dry_run"`
	By        string   `json:"by"`
	Alarm     string   `json:"alarm,omitempty"`
	Rule      string   `json:"rule,omitempty"`
	Severity  string   `json:"severity,omitempty"`
	AlarmSeq  uint64   `json:"alarm_seq,omitempty"`
	Episode   uint64   `json:"episode,omitempty"`
	Time      jsonTime `json:"time"`
	Message   string   `json:"message"`
}

func ms(d time.Duration) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(float64(d)/1e6, 'f', 3, 64), 64)
	return v
}

// MarshalJSON writes the action event: {"kind":"action",…}, times in RFC 3339 UTC with milliseconds,
// durations in milliseconds.
func (a Action) MarshalJSON() ([]byte, error) {
	w := actionWire{Kind: KindActionEvent, Gateway: a.Gateway, Site: a.Site, ID: a.ID, Output: a.Output, Type: a.Type,
		Role: a.Role, State: a.State, Result: a.Result, Detail: a.Detail, TookMS: ms(a.Took), DryRun: a.DryRun, By: a.By,
		Alarm: a.Alarm, Rule: a.Rule, Severity: a.Severity, AlarmSeq: a.AlarmSeq, Episode: a.Episode,
		Time: jsonTime(a.Time), Message: a.Message}
	if a.Error != "" {
		w.Error = &a.Error
	}
	if a.AlarmSeq != 0 {
		l := ms(a.Latency)
		w.LatencyMS = &l
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads an action event; a payload whose kind is not "action" is an error.
func (a *Action) UnmarshalJSON(b []byte) error {
	var w actionWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	if w.Kind != KindActionEvent {
		return fmt.Errorf("contract: not an action event (kind %q)", Printable(w.Kind))
	}
	*a = Action{Gateway: w.Gateway, Site: w.Site, ID: w.ID, Output: w.Output, Type: w.Type, Role: w.Role,
		State: w.State, Result: w.Result, Detail: w.Detail, Took: time.Duration(w.TookMS * 1e6), DryRun: w.DryRun,
		By: w.By, Alarm: w.Alarm, Rule: w.Rule, Severity: w.Severity, AlarmSeq: w.AlarmSeq, Episode: w.Episode,
		Time: time.Time(w.Time), Message: w.Message}
	if w.Error != nil {
		a.Error = *w.Error
	}
	if w.LatencyMS != nil {
		a.Latency = time.Duration(*w.LatencyMS * 1e6)
	}
	return nil
}

// ParseEvent reads a payload of …/events: an alarm transition or an action event, told apart by "kind".
// Exactly one of the results is non-nil when err is nil.
func ParseEvent(payload []byte) (*Alarm, *Action, error) {
	var k struct {
		Kind *string `json:"kind"`
	}
	if err := json.Unmarshal(payload, &k); err != nil {
		return nil, nil, err
	}
	if k.Kind == nil {
		var a Alarm
		if err := json.Unmarshal(payload, &a); err != nil {
			return nil, nil, err
		}
		return &a, nil, nil
	}
	var act Action
	if err := json.Unmarshal(payload, &act); err != nil {
		return nil, nil, err
	}
	return nil, &act, nil
}

// actionKeyPrefix starts the journal key of an action event. ':' cannot appear in an alarm key, so the
// two never collide; under pressure the journal coalesces older events of the same output.
const actionKeyPrefix = "action:"

// ActionKey is the journal key of an output's action events.
func ActionKey(output string) string { return actionKeyPrefix + output }

// IsActionKey reports whether a journal key names action events, which go to …/events only (they have
// no retained state topic).
func IsActionKey(key string) bool { return strings.HasPrefix(key, actionKeyPrefix) }

// IsActionPayload reports cheaply whether a journaled payload is an action event.
func IsActionPayload(b []byte) bool { return bytes.HasPrefix(b, []byte(`{"kind":"action"`)) }

// ActionMessage is the human sentence of an action event, e.g. "stop-charge on for pre-runaway (critical):
// ok in 2.1 ms; coil 4609 = 0, read back 0".
func ActionMessage(a *Action) string {
	var b strings.Builder
	if a.Output == ShutdownOutput {
		// "shutdown pending: ups-low-battery is active …", "shutdown command failed: exit status 1; …"
		b.WriteString("shutdown " + a.State)
		switch a.Result {
		case ResultFailed:
			b.WriteString(" failed")
			if a.Error != "" {
				b.WriteString(": " + a.Error)
			}
			if a.Detail != "" {
				b.WriteString("; " + a.Detail)
			}
		case ResultDryRun:
			b.WriteString(": dry run: " + a.Detail)
		default:
			b.WriteString(": " + a.Detail)
		}
		return b.String()
	}
	b.WriteString(a.Output)
	b.WriteByte(' ')
	b.WriteString(a.State)
	switch {
	case a.Alarm != "":
		fmt.Fprintf(&b, " for %s", a.Alarm)
		if a.Severity != "" {
			fmt.Fprintf(&b, " (%s)", a.Severity)
		}
	case strings.HasPrefix(a.By, ByTest):
		fmt.Fprintf(&b, " (%s)", a.By)
	}
	b.WriteString(": ")
	switch a.Result {
	case ResultDryRun:
		b.WriteString("dry run, nothing touched")
	case ResultOK:
		b.WriteString("ok")
		if a.Took > 0 {
			fmt.Fprintf(&b, " in %s", roundDur(a.Took))
		}
	default:
		b.WriteString(a.Result)
		if a.Error != "" {
			b.WriteString(": ")
			b.WriteString(a.Error)
		}
	}
	if a.Detail != "" {
		b.WriteString("; ")
		b.WriteString(a.Detail)
	}
	return b.String()
}

func roundDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}
