package homeassistant

import (
	"encoding/json"
	"sort"
	"strings"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/reading"
)

// Gateway is the gateway as one Home Assistant device.
type Gateway struct {
	ID, Version string
	// TopicPrefix is mqtt.topic_prefix; DiscoveryPrefix Home Assistant's discovery prefix.
	TopicPrefix, DiscoveryPrefix string
	// Readings says whether readings are published: sensor entities need them. ReadingsQoS is their QoS.
	Readings    bool
	ReadingsQoS int
	// ExpireAfter makes a sensor unavailable in Home Assistant when no reading came for that long (the
	// readings' heartbeat is mqtt.readings.every); 0 never.
	ExpireAfter time.Duration
	// URL is where the gateway's status page can be opened from Home Assistant, or "".
	URL string
}

// Channel is one sensor channel.
type Channel struct {
	Sensor  string
	Channel reading.Channel
	Format  reading.Format
}

// Alarm is one alarm the gateway can raise.
type Alarm struct {
	Key, Rule, Severity string
}

// Message is one retained discovery message; an empty Payload removes the entity.
type Message struct {
	Topic   string
	Payload []byte
}

// Discovery is a gateway's discovery configs.
type Discovery struct {
	prefix, node string
	msgs         []Message
	topics       map[string]bool
}

// New builds the discovery configs of a gateway's channels and alarms.
func New(gw Gateway, chs []Channel, alarms []Alarm) *Discovery {
	d := &Discovery{prefix: gw.DiscoveryPrefix, node: node(gw.ID), topics: map[string]bool{}}
	topics := contract.NewTopics(gw.TopicPrefix, gw.ID)
	dev := device{Identifiers: []string{d.node}, Name: gw.ID, Manufacturer: "rackwatch", Model: "rackwatch gateway",
		SWVersion: gw.Version, ConfigurationURL: gw.URL}
	avail := []availability{{Topic: topics.Status(), ValueTemplate: "{{ value_json.state }}",
		PayloadAvailable: contract.Online, PayloadNotAvailable: contract.Offline}}
	org := origin{Name: "rackwatch", SWVersion: gw.Version}
	if gw.Readings {
		for _, c := range chs {
			object := escape(c.Sensor) + "__" + escape(string(c.Channel))
			e := entity{Name: c.Sensor + " " + strings.ReplaceAll(string(c.Channel), "_", " "),
				UniqueID: d.node + "_" + object, StateTopic: topics.Reading(c.Sensor, string(c.Channel)), QoS: gw.ReadingsQoS,
				Availability: avail, Device: dev, Origin: org}
			if gw.ExpireAfter > 0 {
				e.ExpireAfter = int(gw.ExpireAfter.Round(time.Second) / time.Second)
			}
			component := describeChannel(&e, c)
			d.add(component, object, &e)
		}
	}
	for _, a := range alarms {
		object := "alarm__" + escape(a.Key)
		e := entity{Name: "alarm " + a.Key, UniqueID: d.node + "_" + object, StateTopic: topics.Alarm(a.Key), QoS: 1,
			DeviceClass: "problem", ValueTemplate: "{{ 'ON' if value_json.state == 'active' else 'OFF' }}",
			JSONAttributesTopic:    topics.Alarm(a.Key),
			JSONAttributesTemplate: "{{ {'severity': value_json.severity, 'acknowledged': value_json.acked, 'since': value_json.since, 'message': value_json.message, 'seq': value_json.seq} | tojson }}",
			Availability:           avail, Device: dev, Origin: org}
		d.add("binary_sensor", object, &e)
	}
	sort.Slice(d.msgs, func(i, j int) bool { return d.msgs[i].Topic < d.msgs[j].Topic })
	return d
}

func (d *Discovery) add(component, object string, e *entity) {
	topic := d.prefix + "/" + component + "/" + d.node + "/" + object + "/config"
	b, _ := json.Marshal(e) // plain strings and numbers: cannot fail
	d.msgs = append(d.msgs, Message{Topic: topic, Payload: b})
	d.topics[topic] = true
}

// Configs are the discovery messages to publish, retained, on every broker, sorted by topic.
func (d *Discovery) Configs() []Message { return d.msgs }

// Filter is the topic filter matching every discovery config of a gateway, whatever the entity:
// subscribing to it brings back the retained configs of entities that are no longer configured.
func Filter(discoveryPrefix, gateway string) string {
	return discoveryPrefix + "/+/" + node(gateway) + "/+/config"
}

// Filter is Filter for this gateway.
func (d *Discovery) Filter() string { return d.prefix + "/+/" + d.node + "/+/config" }

// node is the gateway's node id in discovery topics, also its device identifier.
func node(gateway string) string { return "rackwatch_" + escape(gateway) }

// Obsolete reports whether a retained message received on Filter is a config of this gateway that is no
// longer wanted (a sensor removed from the config): publishing an empty retained message on its topic
// removes the entity from Home Assistant and the broker.
func (d *Discovery) Obsolete(topic string, payload []byte) bool {
	if len(payload) == 0 || d.topics[topic] {
		return false
	}
	rest, ok := strings.CutPrefix(topic, d.prefix+"/")
	if !ok {
		return false
	}
	parts := strings.Split(rest, "/")
	return len(parts) == 4 && parts[1] == d.node && parts[3] == "config"
}

// Removals are the empty messages that remove what old configured and d does not (after a reload).
func (d *Discovery) Removals(old *Discovery) []Message {
	if old == nil {
		return nil
	}
	var out []Message
	for _, m := range old.msgs {
		if !d.topics[m.Topic] {
			out = append(out, Message{Topic: m.Topic})
		}
	}
	return out
}

// escape makes an id usable in a discovery topic, whose node and object ids allow only [a-zA-Z0-9_-]:
// '_' and anything else outside that set become _XX (hex), so that different ids never meet and "__"
// can separate two ids.
func escape(s string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('_')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}

// entity is a discovery config, with Home Assistant's documented keys.
type entity struct {
	Name                      string         `json:"name"`
	UniqueID                  string         `json:"unique_id"`
	StateTopic                string         `json:"state_topic"`
	ValueTemplate             string         `json:"value_template"`
	QoS                       int            `json:"qos"`
	DeviceClass               string         `json:"device_class,omitempty"`
	StateClass                string         `json:"state_class,omitempty"`
	UnitOfMeasurement         string         `json:"unit_of_measurement,omitempty"`
	SuggestedDisplayPrecision *int           `json:"suggested_display_precision,omitempty"`
	Options                   []string       `json:"options,omitempty"`
	PayloadOn                 string         `json:"payload_on,omitempty"`
	PayloadOff                string         `json:"payload_off,omitempty"`
	ExpireAfter               int            `json:"expire_after,omitempty"`
	JSONAttributesTopic       string         `json:"json_attributes_topic,omitempty"`
	JSONAttributesTemplate    string         `json:"json_attributes_template,omitempty"`
	Availability              []availability `json:"availability"`
	Device                    device         `json:"device"`
	Origin                    origin         `json:"origin"`
}

type availability struct {
	Topic               string `json:"topic"`
	ValueTemplate       string `json:"value_template"`
	PayloadAvailable    string `json:"payload_available"`
	PayloadNotAvailable string `json:"payload_not_available"`
}

type device struct {
	Identifiers      []string `json:"identifiers"`
	Name             string   `json:"name"`
	Manufacturer     string   `json:"manufacturer"`
	Model            string   `json:"model"`
	SWVersion        string   `json:"sw_version"`
	ConfigurationURL string   `json:"configuration_url,omitempty"`
}

type origin struct {
	Name      string `json:"name"`
	SWVersion string `json:"sw_version"`
}
