package contract

import (
	"encoding/json"
	"math"
	"time"
)

// Severity of an alarm.
const (
	Info     = "info"
	Warning  = "warning"
	Critical = "critical"
)

// State of an alarm's condition.
const (
	Active  = "active"
	Cleared = "cleared"
)

// Alarm is the alarm object of the MQTT contract. One value describes an alarm's whole current state; every
// transition produces a new value with the next Seq.
type Alarm struct {
	Gateway string `json:"gateway"`
	Site    string `json:"site"`
	// Key is "<rule>/<sensor>/<channel>", or "<rule>" for a composite rule. It names the alarm in topics
	// and in ack/shelve commands.
	Key          string     `json:"alarm"`
	Rule         string     `json:"rule"`
	Sensor       string     `json:"sensor"`
	Channel      string     `json:"channel"`
	Severity     string     `json:"severity"`
	State        string     `json:"state"`
	Acked        bool       `json:"acked"`
	AckedBy      string     `json:"acked_by,omitempty"`
	ShelvedUntil *time.Time `json:"shelved_until"`
	// ShelvedBy is the operator who shelved it, while it is shelved.
	ShelvedBy string    `json:"shelved_by,omitempty"`
	Value     *float64  `json:"value"`
	Unit      string    `json:"unit"`
	Threshold *float64  `json:"threshold"`
	Since     time.Time `json:"since"`
	Time      time.Time `json:"time"`
	Seq       uint64    `json:"seq"`
	// Episode is the seq of the first published transition (normally the raise) of the alarm's current
	// active period, carried by its later updates and by the clear that ends it; after that, the episode
	// that ended. A pager keys a page on (gateway, alarm, episode), so a clear always finds its page.
	// 0 for an alarm never raised.
	Episode uint64            `json:"episode"`
	Event   string            `json:"event"`
	Message string            `json:"message"`
	Labels  map[string]string `json:"labels"`
}

// Events: what happened in a transition. The state fields say where the alarm is now; Event says how it
// got there, so a pager can tell a raise from an acknowledgement.
const (
	EventRaise   = "raise"
	EventClear   = "clear"
	EventAck     = "ack"
	EventShelve  = "shelve"
	EventUnshelv = "unshelve"
	EventUpdate  = "update"
	// EventSuppressed is a change caused by readings while the alarm is shelved (it rose, cleared or
	// changed): recorded and published with the alarm's true state, so the central side and the status
	// page see that smoke was detected, but it pages nobody and drives no output. The unshelve (command
	// or expiry) publishes the state again as an ordinary transition.
	EventSuppressed = "suppressed"
)

// Composite reports whether the alarm belongs to a composite rule (no sensor or channel of its own).
func (a *Alarm) Composite() bool { return a.Sensor == "" }

// TimeFormat is RFC 3339 in UTC with milliseconds, as the MQTT contract requires.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

type jsonTime time.Time

func (t jsonTime) MarshalJSON() ([]byte, error) {
	tt := time.Time(t).UTC()
	if tt.IsZero() || tt.Year() < 0 || tt.Year() > 9999 {
		// RFC 3339 has four-digit years: a clock that far off (a corrupt RTC) has no valid time to give.
		return []byte("null"), nil
	}
	b := make([]byte, 0, 32)
	b = append(b, '"')
	b = tt.AppendFormat(b, TimeFormat)
	return append(b, '"'), nil
}

func (t *jsonTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = jsonTime{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	*t = jsonTime(v)
	return err
}

// wire is the JSON form of Alarm, field for field in the contract's order, with times in its format.
type wire struct {
	Gateway      string            `json:"gateway"`
	Site         string            `json:"site"`
	Key          string            `json:"alarm"`
	Rule         string            `json:"rule"`
	Sensor       string            `json:"sensor"`
	Channel      string            `json:"channel"`
	Severity     string            `json:"severity"`
	State        string            `json:"state"`
	Acked        bool              `json:"acked"`
	AckedBy      string            `json:"acked_by,omitempty"`
	ShelvedUntil *jsonTime         `json:"shelved_until"`
	ShelvedBy    string            `json:"shelved_by,omitempty"`
	Value        *float64          `json:"value"`
	Unit         string            `json:"unit"`
	Threshold    *float64          `json:"threshold"`
	Since        jsonTime          `json:"since"`
	Time         jsonTime          `json:"time"`
	Seq          uint64            `json:"seq"`
	Episode      uint64            `json:"episode"`
	Event        string            `json:"event"`
	Message      string            `json:"message"`
	Labels       map[string]string `json:"labels"`
}

// MarshalJSON writes the contract's alarm object, times in RFC 3339 UTC with milliseconds. It cannot fail,
// whatever the fields hold: a value or threshold that is NaN or infinite is written as null (JSON has no
// such numbers, and an alarm that cannot be encoded would never be published), a time outside RFC 3339's
// years as null, invalid UTF-8 as U+FFFD.
func (a Alarm) MarshalJSON() ([]byte, error) {
	w := wire{Gateway: a.Gateway, Site: a.Site, Key: a.Key, Rule: a.Rule, Sensor: a.Sensor, Channel: a.Channel,
		Severity: a.Severity, State: a.State, Acked: a.Acked, AckedBy: a.AckedBy, ShelvedBy: a.ShelvedBy, Value: finite(a.Value), Unit: a.Unit,
		Threshold: finite(a.Threshold), Since: jsonTime(a.Since), Time: jsonTime(a.Time), Seq: a.Seq, Episode: a.Episode,
		Event: a.Event, Message: a.Message, Labels: a.Labels}
	if a.ShelvedUntil != nil {
		t := jsonTime(*a.ShelvedUntil)
		w.ShelvedUntil = &t
	}
	if w.Labels == nil {
		w.Labels = map[string]string{}
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads the contract's alarm object.
func (a *Alarm) UnmarshalJSON(b []byte) error {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*a = Alarm{Gateway: w.Gateway, Site: w.Site, Key: w.Key, Rule: w.Rule, Sensor: w.Sensor, Channel: w.Channel,
		Severity: w.Severity, State: w.State, Acked: w.Acked, AckedBy: w.AckedBy, ShelvedBy: w.ShelvedBy, Value: w.Value, Unit: w.Unit,
		Threshold: w.Threshold, Since: time.Time(w.Since), Time: time.Time(w.Time), Seq: w.Seq, Episode: w.Episode,
		Event: w.Event, Message: w.Message, Labels: w.Labels}
	if w.ShelvedUntil != nil && !time.Time(*w.ShelvedUntil).IsZero() {
		t := time.Time(*w.ShelvedUntil)
		a.ShelvedUntil = &t
	}
	return nil
}

// finite returns p, or nil when it points to NaN or an infinity.
func finite(p *float64) *float64 {
	if p == nil || math.IsNaN(*p) || math.IsInf(*p, 0) {
		return nil
	}
	return p
}

// Float returns a pointer to v, for the optional Value and Threshold fields.
func Float(v float64) *float64 { return &v }
