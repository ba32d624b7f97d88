package homeassistant

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/reading"
)

func batteryRoom() *Discovery {
	gw := Gateway{ID: "dc1-b3.battery", Version: "1.2.0", TopicPrefix: "rackwatch", DiscoveryPrefix: "homeassistant",
		Readings: true, ExpireAfter: 30 * time.Second}
	f := reading.CanonicalFormat
	temp := reading.Format{Unit: "°C", Resolution: 0.01}
	chs := []Channel{
		{Sensor: "string1", Channel: reading.BatteryTemp, Format: temp},
		{Sensor: "batt-room.air", Channel: reading.Humidity, Format: f(reading.Humidity)},
		{Sensor: "batt-room.offgas", Channel: reading.H2, Format: reading.Format{Unit: "ppm", Resolution: 0.1}},
		{Sensor: "batt-room.offgas", Channel: reading.VOC, Format: f(reading.VOC)},
		{Sensor: "batt-room.smoke", Channel: reading.Smoke, Format: f(reading.Smoke)},
		{Sensor: "ups1", Channel: reading.OnBattery, Format: f(reading.OnBattery)},
		{Sensor: "ups1", Channel: reading.Charge, Format: f(reading.Charge)},
		{Sensor: "ups1", Channel: reading.Runtime, Format: f(reading.Runtime)},
		{Sensor: "bms", Channel: "mode", Format: reading.Format{Resolution: 1, States: map[int64]string{0: "standby", 2: "charging", 3: "discharging"}}},
		{Sensor: "water", Channel: reading.Leak, Format: f(reading.Leak)},
	}
	return New(gw, chs, []Alarm{{Key: "pre-runaway", Rule: "pre-runaway", Severity: "critical"},
		{Key: "smoke/batt-room.smoke/smoke", Rule: "smoke", Severity: "critical"}})
}

func configs(t *testing.T, d *Discovery) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, m := range d.Configs() {
		var v map[string]any
		if err := json.Unmarshal(m.Payload, &v); err != nil {
			t.Fatalf("%s: %v", m.Topic, err)
		}
		out[m.Topic] = v
	}
	return out
}

// Each channel gets the entity Home Assistant documents for it: the right component, device class, unit,
// state class and precision; booleans are binary sensors; every alarm a problem entity.
func TestDiscoveryConfigs(t *testing.T) {
	cs := configs(t, batteryRoom())
	const node = "rackwatch_dc1-b3_2ebattery"
	want := map[string]map[string]any{
		"homeassistant/sensor/" + node + "/string1__battery_5ftemp/config": {"device_class": "temperature", "unit_of_measurement": "°C",
			"state_class": "measurement", "suggested_display_precision": 2.0, "state_topic": "rackwatch/dc1-b3.battery/readings/string1/battery_temp",
			"value_template": "{{ value_json.value }}", "expire_after": 30.0, "name": "string1 battery temp"},
		"homeassistant/sensor/" + node + "/batt-room_2eair__humidity/config":       {"device_class": "humidity", "unit_of_measurement": "%", "suggested_display_precision": 1.0},
		"homeassistant/sensor/" + node + "/batt-room_2eoffgas__h2/config":          {"unit_of_measurement": "ppm", "state_class": "measurement"},
		"homeassistant/sensor/" + node + "/batt-room_2eoffgas__voc/config":         {"device_class": "volatile_organic_compounds_parts", "unit_of_measurement": "ppb"},
		"homeassistant/binary_sensor/" + node + "/batt-room_2esmoke__smoke/config": {"device_class": "smoke", "payload_on": "1", "payload_off": "0"},
		"homeassistant/binary_sensor/" + node + "/ups1__on_5fbattery/config":       {"payload_on": "1", "payload_off": "0"},
		"homeassistant/binary_sensor/" + node + "/water__leak/config":              {"device_class": "moisture"},
		"homeassistant/sensor/" + node + "/ups1__charge/config":                    {"device_class": "battery", "unit_of_measurement": "%"},
		"homeassistant/sensor/" + node + "/ups1__runtime/config":                   {"device_class": "duration", "unit_of_measurement": "s"},
		"homeassistant/sensor/" + node + "/bms__mode/config":                       {"device_class": "enum", "value_template": "{{ value_json.state | default(None) }}"},
		"homeassistant/binary_sensor/" + node + "/alarm__pre-runaway/config":       {"device_class": "problem", "state_topic": "rackwatch/dc1-b3.battery/alarms/pre-runaway", "qos": 1.0},
		"homeassistant/binary_sensor/" + node + "/alarm__smoke_2fbatt-room_2esmoke_2fsmoke/config": {"device_class": "problem",
			"state_topic": "rackwatch/dc1-b3.battery/alarms/smoke/batt-room.smoke/smoke", "json_attributes_topic": "rackwatch/dc1-b3.battery/alarms/smoke/batt-room.smoke/smoke"},
	}
	if len(cs) != len(want) {
		t.Errorf("%d configs, want %d: %v", len(cs), len(want), keys(cs))
	}
	for topic, kv := range want {
		c, ok := cs[topic]
		if !ok {
			t.Errorf("no config on %s (have %v)", topic, keys(cs))
			continue
		}
		for k, v := range kv {
			if c[k] != v {
				t.Errorf("%s: %s = %v, want %v", topic, k, c[k], v)
			}
		}
		// What every entity shares: one device per gateway, available while the gateway says online.
		dev := c["device"].(map[string]any)
		if ids := dev["identifiers"].([]any); len(ids) != 1 || ids[0] != node || dev["name"] != "dc1-b3.battery" || dev["sw_version"] != "1.2.0" {
			t.Errorf("%s: device %v", topic, dev)
		}
		av := c["availability"].([]any)[0].(map[string]any)
		if av["topic"] != "rackwatch/dc1-b3.battery/status" || av["value_template"] != "{{ value_json.state }}" ||
			av["payload_available"] != "online" || av["payload_not_available"] != "offline" {
			t.Errorf("%s: availability %v", topic, av)
		}
		if id, _ := c["unique_id"].(string); !strings.HasPrefix(id, node+"_") {
			t.Errorf("%s: unique_id %q", topic, id)
		}
	}
	if opts := cs["homeassistant/sensor/"+node+"/bms__mode/config"]["options"].([]any); len(opts) != 3 || opts[2] != "discharging" {
		t.Errorf("enum options %v", opts)
	}
}

func keys(m map[string]map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A sensor that left the config: its retained config is recognised as obsolete, the current ones and
// other gateways' are not; a reload removes what it no longer has.
func TestObsoleteConfigs(t *testing.T) {
	d := batteryRoom()
	const node = "rackwatch_dc1-b3_2ebattery"
	if got := d.Filter(); got != "homeassistant/+/"+node+"/+/config" {
		t.Errorf("filter %q", got)
	}
	for topic, want := range map[string]bool{
		"homeassistant/sensor/" + node + "/old_2esensor__temperature/config": true,
		"homeassistant/sensor/" + node + "/string1__battery_5ftemp/config":   false,
		"homeassistant/sensor/rackwatch_other/x__temperature/config":         false,
		"homeassistant/sensor/" + node + "/x/y/config":                       false,
	} {
		if got := d.Obsolete(topic, []byte("{}")); got != want {
			t.Errorf("Obsolete(%s) = %v", topic, got)
		}
	}
	if d.Obsolete("homeassistant/sensor/"+node+"/old__x/config", nil) {
		t.Error("an empty (already removed) config is obsolete")
	}
	smaller := New(Gateway{ID: "dc1-b3.battery", TopicPrefix: "rackwatch", DiscoveryPrefix: "homeassistant", Readings: true},
		[]Channel{{Sensor: "string1", Channel: reading.BatteryTemp, Format: reading.Format{Unit: "°C"}}}, nil)
	rm := smaller.Removals(d)
	if len(rm) != len(d.Configs())-1 {
		t.Fatalf("%d removals", len(rm))
	}
	for _, m := range rm {
		if len(m.Payload) != 0 || strings.Contains(m.Topic, "string1__battery_5ftemp") {
			t.Errorf("removal %s %q", m.Topic, m.Payload)
		}
	}
}

func TestEscapeKeepsIDsApart(t *testing.T) {
	seen := map[string]string{}
	for _, id := range []string{"a.b", "a_b", "a-b", "a._b", "a_.b", "a__b", "ab"} {
		e := escape(id)
		if prev, dup := seen[e]; dup {
			t.Errorf("%q and %q both escape to %q", prev, id, e)
		}
		seen[e] = id
		for _, c := range e {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
				t.Errorf("%q escapes to %q", id, e)
			}
		}
	}
}

// Obsolete reads topics a broker hands back: whatever the topic, it never calls one of the gateway's
// own configs obsolete, nor one outside the gateway's node (another gateway's entities are not ours to
// remove), and never panics.
func FuzzObsolete(f *testing.F) {
	d := batteryRoom()
	const node = "rackwatch_dc1-b3_2ebattery"
	for _, m := range d.Configs() {
		f.Add(m.Topic)
	}
	for _, s := range []string{"homeassistant/sensor/" + node + "/old__x/config", "homeassistant/sensor/rackwatch_other/x/config",
		"homeassistant//" + node + "//config", "homeassistant/" + node, "", "/", "homeassistant/a/" + node + "/b/config/"} {
		f.Add(s)
	}
	own := map[string]bool{}
	for _, m := range d.Configs() {
		own[m.Topic] = true
	}
	f.Fuzz(func(t *testing.T, topic string) {
		if !d.Obsolete(topic, []byte("{}")) {
			return
		}
		parts := strings.Split(topic, "/")
		if own[topic] || len(parts) != 5 || parts[0] != "homeassistant" || parts[2] != node || parts[4] != "config" {
			t.Errorf("Obsolete(%q) = true", topic)
		}
	})
}
