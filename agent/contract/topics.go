package contract

import "strings"

// Topic kinds: the part of a topic after <prefix>/<gateway>/.
const (
	KindStatus    = "status"
	KindAlarm     = "alarms"
	KindEvents    = "events"
	KindReading   = "readings"
	KindCommand   = "cmd"
	CommandResult = "result" // …/cmd/result
)

// Topics builds the topics of one gateway: <prefix>/<gateway>/….
type Topics struct{ base string }

// NewTopics returns the topics of gateway under prefix (mqtt.topic_prefix, "rackwatch" by default).
func NewTopics(prefix, gateway string) Topics { return Topics{base: prefix + "/" + gateway} }

// Base is <prefix>/<gateway>.
func (t Topics) Base() string { return t.base }

// Status is the retained status topic, also the Last Will.
func (t Topics) Status() string { return t.base + "/" + KindStatus }

// Events carries every transition in seq order.
func (t Topics) Events() string { return t.base + "/" + KindEvents }

// AlarmsPrefix is the alarm-state topics' common prefix, ending in '/': append an alarm key.
func (t Topics) AlarmsPrefix() string { return t.base + "/" + KindAlarm + "/" }

// Alarm is the retained state topic of the alarm with the given key ("<rule>/<sensor>/<channel>" or
// "<rule>").
func (t Topics) Alarm(key string) string { return t.AlarmsPrefix() + key }

// Reading is the readings topic of one sensor channel.
func (t Topics) Reading(sensor, channel string) string {
	return t.base + "/" + KindReading + "/" + sensor + "/" + channel
}

// Command is the topic operators publish a command of the given kind on (Ack, Shelve, Unshelve,
// OutputTest).
func (t Topics) Command(kind string) string { return t.base + "/" + KindCommand + "/" + kind }

// Result is where the gateway answers commands.
func (t Topics) Result() string { return t.Command(CommandResult) }

// Filters are topic filters for a subscriber following gateway(s) (gateway may be "+"): status, events
// and alarm states, plus readings when asked.
func Filters(prefix, gateway string, readings bool) map[string]byte {
	base := prefix + "/" + gateway
	f := map[string]byte{base + "/" + KindStatus: 1, base + "/" + KindEvents: 1, base + "/" + KindAlarm + "/#": 1}
	if readings {
		f[base+"/"+KindReading+"/#"] = 0
	}
	return f
}

// Parsed is a topic of the contract taken apart.
type Parsed struct {
	Gateway string
	Kind    string // KindStatus, KindAlarm, KindEvents, KindReading or KindCommand
	// Alarm is the alarm key of an alarm-state topic.
	Alarm string
	// Sensor and Channel name a reading's channel.
	Sensor, Channel string
	// Command is the command kind (ack, shelve, result) of a …/cmd/… topic.
	Command string
}

// ParseTopic takes a topic under prefix apart. It reports false for a topic that is not the contract's.
func ParseTopic(prefix, topic string) (Parsed, bool) {
	rest, ok := strings.CutPrefix(topic, prefix+"/")
	if !ok {
		return Parsed{}, false
	}
	gw, rest, ok := strings.Cut(rest, "/")
	if !ok || gw == "" {
		return Parsed{}, false
	}
	kind, sub, _ := strings.Cut(rest, "/")
	p := Parsed{Gateway: gw, Kind: kind}
	switch kind {
	case KindStatus, KindEvents:
		return p, sub == "" && !strings.Contains(rest, "/")
	case KindAlarm:
		p.Alarm = sub
		return p, ValidKey(sub)
	case KindReading:
		s, ch, ok := strings.Cut(sub, "/")
		p.Sensor, p.Channel = s, ch
		return p, ok && s != "" && ch != "" && !strings.Contains(ch, "/")
	case KindCommand:
		p.Command = sub
		return p, sub != "" && !strings.Contains(sub, "/")
	}
	return Parsed{}, false
}

// TopicSpec describes one topic of the contract for documentation and its test.
type TopicSpec struct {
	// Pattern is the topic after <prefix>/<gateway>/, as the README writes it: "…/status".
	Pattern string
	QoS     string // "1", or how it is configured
	Retain  bool
}

// Table is every topic a gateway publishes or subscribes to, in the order the README lists them.
var Table = []TopicSpec{
	{"…/status", "1", true},
	{"…/alarms/<rule>/<sensor>/<channel>", "1", true},
	{"…/events", "1", false},
	{"…/readings/<sensor>/<channel>", "mqtt.readings.qos", false},
	{"…/cmd/ack", "1", false},
	{"…/cmd/shelve", "1", false},
	{"…/cmd/unshelve", "1", false},
	{"…/cmd/output-test", "1", false},
	{"…/cmd/result", "1", false},
}
