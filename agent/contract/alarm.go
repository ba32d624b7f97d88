package contract

import (
	"encoding/json"
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
	Key          string            `json:"alarm"`
	Rule         string            `json:"rule"`
	Sensor       string            `json:"sensor"`
	Channel      string            `json:"channel"`
	Severity     string            `json:"severity"`
	State        string            `json:"state"`
	Acked        bool              `json:"acked"`
	AckedBy      string            `json:"acked_by,omitempty"`
	ShelvedUntil *time.Time        `json:"shelved_until"`
	Value        *float64          `json:"value"`
	Unit         string            `json:"unit"`
	Threshold    *float64          `json:"threshold"`
	Since        time.Time         `json:"since"`
	Time         time.Time         `json:"time"`
	Seq          uint64            `json:"seq"`
	Event        string            `json:"event"`
	Message      string            `json:"message"`
	Labels       map[string]string `json:"labels"`
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
)

// Composite reports whether the alarm belongs to a composite rule (no sensor or channel of its own).
func (a *Alarm) Composite() bool { return a.Sensor == "" }

// TimeFormat is RFC 3339 in UTC with milliseconds, as the MQTT contract requires.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

type jsonTime time.Time

func (t jsonTime) MarshalJSON() ([]byte, error) {
	tt := time.Time(t)
	if tt.IsZero() {
		return []byte("null"), nil
	}
	b := make([]byte, 0, 32)
	b = append(b, '"')
	b = tt.UTC().AppendFormat(b, TimeFormat)
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
	Value        *float64          `json:"value"`
	Unit         string            `json:"unit"`
	Threshold    *float64          `json:"threshold"`
	Since        jsonTime          `json:"since"`
	Time         jsonTime          `json:"time"`
	Seq          uint64            `json:"seq"`
	Event        string            `json:"event"`
	Message      string            `json:"message"`
	Labels       map[string]string `json:"labels"`
}

// MarshalJSON writes the contract's alarm object, times in RFC 3339 UTC with milliseconds.
func (a Alarm) MarshalJSON() ([]byte, error) {
	w := wire{a.Gateway, a.Site, a.Key, a.Rule, a.Sensor, a.Channel, a.Severity, a.State, a.Acked, a.AckedBy,
		nil, a.Value, a.Unit, a.Threshold, jsonTime(a.Since), jsonTime(a.Time), a.Seq, a.Event, a.Message, a.Labels}
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
	*a = Alarm{w.Gateway, w.Site, w.Key, w.Rule, w.Sensor, w.Channel, w.Severity, w.State, w.Acked, w.AckedBy,
		nil, w.Value, w.Unit, w.Threshold, time.Time(w.Since), time.Time(w.Time), w.Seq, w.Event, w.Message, w.Labels}
	if w.ShelvedUntil != nil && !time.Time(*w.ShelvedUntil).IsZero() {
		t := time.Time(*w.ShelvedUntil)
		a.ShelvedUntil = &t
	}
	return nil
}

// Float returns a pointer to v, for the optional Value and Threshold fields.
func Float(v float64) *float64 { return &v }
