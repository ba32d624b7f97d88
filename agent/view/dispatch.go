package view

import (
	"encoding/json"
	"strings"

	"github.com/rackwatch/rackwatch/agent/alarm"
)

// Message renders one MQTT message of the rackwatch contract received under prefix. Retained alarm
// states (sent by the broker when subscribing) are shown as the current state; live alarm-state topics are
// skipped because the same transition also arrives on …/events. It reports false for a topic or payload
// it does not understand.
func (p *Printer) Message(prefix, topic string, payload []byte, retained bool) bool {
	rest, ok := strings.CutPrefix(topic, prefix+"/")
	if !ok {
		return false
	}
	gw, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return false
	}
	kind, sub, _ := strings.Cut(rest, "/")
	switch kind {
	case "status":
		var s Status
		if json.Unmarshal(payload, &s) != nil {
			return false
		}
		p.Status(gw, &s)
	case "events":
		var a alarm.Alarm
		if json.Unmarshal(payload, &a) != nil {
			return false
		}
		p.Alarm(&a)
	case "alarms":
		if !retained || len(payload) == 0 {
			return true
		}
		var a alarm.Alarm
		if json.Unmarshal(payload, &a) != nil {
			return false
		}
		if a.State == alarm.Active { // current problems only: cleared alarms are history
			p.Alarm(&a)
		}
	case "readings":
		sensor, ch, ok := strings.Cut(sub, "/")
		if !ok {
			return false
		}
		var r Reading
		if json.Unmarshal(payload, &r) != nil {
			return false
		}
		p.Reading(gw, sensor, ch, &r)
	case "cmd":
		p.Note("%s: command %s %s", gw, sub, payload)
	default:
		return false
	}
	return true
}
