package agent

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/broker"
	"github.com/rackwatch/rackwatch/agent/brokerauth"
	"github.com/rackwatch/rackwatch/agent/mqtt"
)

// haConfig is a gateway with Home Assistant discovery on, publishing to url, with the given sensors
// (string1 is always there) and the rules that match them.
func haConfig(url string, smoke, ups bool) string {
	s := `
gateway: {id: dc1-b3.battery, state_dir: STATE}
mqtt:
  brokers: [{url: "` + url + `"}]
  readings: {every: 1s}
  home_assistant: {discovery_prefix: homeassistant}
sensors:
  - {id: string1, driver: sim, scenario: battery-runaway, every: 50ms, channels: [battery_temp]}
`
	rules := "rules:\n  - {id: hot, match: {channel: battery_temp}, above: 60, severity: critical}\n"
	if smoke {
		s += "  - {id: room.smoke, driver: sim, scenario: battery-runaway, every: 50ms, channels: [smoke]}\n"
		rules += "  - {id: smoke, match: {channel: smoke}, state: true, latch: true, severity: critical}\n"
	}
	if ups {
		s += "  - {id: ups1, driver: sim, scenario: battery-runaway, every: 50ms, channels: [on_battery, charge]}\n"
		rules += "  - {id: on-battery, match: {channel: on_battery}, state: true, severity: warning}\n"
	}
	return s + rules
}

// discoveryMirror follows the discovery topics through one subscription taken before the gateway
// starts, so that the tests can wait for the gateway to finish publishing before they subscribe afresh,
// as a newly started Home Assistant would. (The embedded broker's library reads a retained topic's path
// without its lock while a retained publish writes it: a new wildcard subscription racing the gateway's
// discovery burst trips the race detector. Subscribing once the burst is over avoids it.)
type discoveryMirror struct {
	mu      sync.Mutex
	configs map[string][]byte
	last    time.Time
}

func followDiscovery(t *testing.T, url string) *discoveryMirror {
	t.Helper()
	m := &discoveryMirror{configs: map[string][]byte{}, last: time.Now()}
	cl, err := mqtt.Connect(context.Background(), mqtt.Config{URL: url, ClientID: "ha-follow", CleanSession: true,
		KeepAlive: 30 * time.Second, Subscribe: map[string]byte{"homeassistant/#": 1},
		OnMessage: func(r mqtt.Received) {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.last = time.Now()
			if len(r.Payload) == 0 {
				delete(m.configs, r.Topic)
			} else {
				m.configs[r.Topic] = append([]byte(nil), r.Payload...)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Disconnect(0) })
	return m
}

// settle waits until the followed configs satisfy want and have not changed for a while.
func (m *discoveryMirror) settle(want func(map[string]map[string]any) bool) {
	if m == nil {
		return
	}
	deadline := time.Now().Add(30 * time.Second) // a failure timeout: the fresh subscription then reports
	for time.Now().Before(deadline) {
		m.mu.Lock()
		got := map[string]map[string]any{}
		for topic, payload := range m.configs {
			var v map[string]any
			if json.Unmarshal(payload, &v) == nil {
				got[topic] = v
			}
		}
		quiet := time.Since(m.last) > 300*time.Millisecond
		m.mu.Unlock()
		if quiet && want(got) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// retained subscribes as Home Assistant does and returns the non-empty retained discovery configs, by
// topic, once they have stopped changing.
func retainedConfigs(t *testing.T, m *discoveryMirror, url, id string, want func(map[string]map[string]any) bool) map[string]map[string]any {
	t.Helper()
	m.settle(want)
	return retainedConfigsAs(t, mqtt.Config{URL: url, ClientID: id + "-ha"}, want)
}

// retainedConfigsAs is retainedConfigs with a client's login.
func retainedConfigsAs(t *testing.T, mc mqtt.Config, want func(map[string]map[string]any) bool) map[string]map[string]any {
	t.Helper()
	var last map[string]map[string]any
	deadline := time.Now().Add(30 * time.Second) // a failure timeout, not a measurement
	for time.Now().Before(deadline) {
		got := map[string]map[string]any{}
		msgs := make(chan mqtt.Received, 256)
		mc.CleanSession, mc.KeepAlive = true, 30*time.Second
		mc.Subscribe = map[string]byte{"homeassistant/#": 1}
		mc.OnMessage = func(m mqtt.Received) {
			m.Payload = append([]byte(nil), m.Payload...)
			select {
			case msgs <- m:
			default:
			}
		}
		cl, err := mqtt.Connect(context.Background(), mc)
		if err != nil {
			t.Fatal(err)
		}
		quiet := time.After(300 * time.Millisecond)
	collect:
		for {
			select {
			case m := <-msgs:
				if !m.Retain || len(m.Payload) == 0 {
					continue
				}
				var v map[string]any
				if err := json.Unmarshal(m.Payload, &v); err != nil {
					t.Fatalf("%s: %v: %s", m.Topic, err, m.Payload)
				}
				got[m.Topic] = v
			case <-quiet:
				break collect
			}
		}
		cl.Disconnect(0)
		last = got
		if want(got) {
			return got
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("discovery configs never as expected; last: %v", keysOf(last))
	return nil
}

func keysOf(m map[string]map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Home Assistant discovers the gateway as one device: a sensor per measured channel, binary sensors for
// the contacts, a problem entity per alarm, available from the gateway's status topic; and an entity
// whose sensor left the config is removed, after a reload and after a restart.
func TestHomeAssistantDiscovery(t *testing.T) {
	b, err := broker.Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	mirror := followDiscovery(t, b.URL())
	plan := writeConfig(t, haConfig(b.URL(), true, true))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reload := make(chan *Plan)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, plan, testRegistry(), Options{Log: log, Reload: reload}) }()

	const node = "rackwatch_dc1-b3_2ebattery"
	temp := "homeassistant/sensor/" + node + "/string1__battery_5ftemp/config"
	smoke := "homeassistant/binary_sensor/" + node + "/room_2esmoke__smoke/config"
	onBattery := "homeassistant/binary_sensor/" + node + "/ups1__on_5fbattery/config"
	charge := "homeassistant/sensor/" + node + "/ups1__charge/config"
	smokeAlarm := "homeassistant/binary_sensor/" + node + "/alarm__smoke_2froom_2esmoke_2fsmoke/config"
	upsAlarm := "homeassistant/binary_sensor/" + node + "/alarm__on-battery_2fups1_2fon_5fbattery/config"
	hotAlarm := "homeassistant/binary_sensor/" + node + "/alarm__hot_2fstring1_2fbattery_5ftemp/config"
	cs := retainedConfigs(t, mirror, b.URL(), "ha1", func(cs map[string]map[string]any) bool { return len(cs) == 7 })
	for topic, want := range map[string]map[string]any{
		temp:       {"device_class": "temperature", "unit_of_measurement": "°C", "state_class": "measurement", "state_topic": "rackwatch/dc1-b3.battery/readings/string1/battery_temp"},
		smoke:      {"device_class": "smoke", "payload_on": "1", "payload_off": "0", "value_template": "{{ value_json.value }}"},
		onBattery:  {"payload_on": "1", "payload_off": "0"},
		charge:     {"device_class": "battery", "unit_of_measurement": "%"},
		smokeAlarm: {"device_class": "problem", "state_topic": "rackwatch/dc1-b3.battery/alarms/smoke/room.smoke/smoke"},
		upsAlarm:   {"device_class": "problem"},
	} {
		c := cs[topic]
		if c == nil {
			t.Errorf("no discovery config on %s (have %v)", topic, keysOf(cs))
			continue
		}
		for k, v := range want {
			if c[k] != v {
				t.Errorf("%s: %s = %v, want %v", topic, k, c[k], v)
			}
		}
		dev, _ := c["device"].(map[string]any)
		if ids, _ := dev["identifiers"].([]any); len(ids) != 1 || ids[0] != node || dev["name"] != "dc1-b3.battery" {
			t.Errorf("%s: device %v", topic, dev)
		}
		av, _ := c["availability"].([]any)
		if len(av) != 1 || av[0].(map[string]any)["topic"] != "rackwatch/dc1-b3.battery/status" {
			t.Errorf("%s: availability %v", topic, av)
		}
	}

	// unique_id is what Home Assistant keys an entity on (and lets a user rename it): one per entity, the
	// same after a restart, whatever the order of the config.
	ids := map[any]string{}
	for topic, c := range cs {
		id, _ := c["unique_id"].(string)
		if id == "" || ids[id] != "" {
			t.Errorf("%s: unique_id %q (also %s)", topic, id, ids[id])
		}
		ids[id] = topic
	}
	if id := cs[temp]["unique_id"]; id != node+"_string1__battery_5ftemp" {
		t.Errorf("string1's temperature has unique_id %v", id)
	}

	// Reload without the UPS: its two channels and its alarm go.
	smaller := writeConfig(t, haConfig(b.URL(), true, false))
	smaller.Config.Gateway.StateDir = plan.Config.Gateway.StateDir
	reload <- smaller
	cs = retainedConfigs(t, mirror, b.URL(), "ha2", func(cs map[string]map[string]any) bool { return len(cs) == 4 })
	for _, gone := range []string{onBattery, charge, upsAlarm} {
		if cs[gone] != nil {
			t.Errorf("%s is still configured after the UPS left the config", gone)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// A restart without the smoke contact: its config, retained by the broker from the last run, is cleared.
	nosmoke := writeConfig(t, haConfig(b.URL(), false, true))
	nosmoke.Config.Gateway.StateDir = plan.Config.Gateway.StateDir
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go func() { done <- Run(ctx, nosmoke, testRegistry(), Options{Log: log}) }()
	cs = retainedConfigs(t, mirror, b.URL(), "ha3", func(cs map[string]map[string]any) bool {
		return cs[smoke] == nil && cs[smokeAlarm] == nil && cs[onBattery] != nil
	})
	if cs[temp] == nil || cs[upsAlarm] == nil || cs[hotAlarm] == nil {
		t.Errorf("configs after the restart: %v", keysOf(cs))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A standalone gateway whose embedded broker takes only its users: the gateway publishes its discovery
// configs there, and Home Assistant, logged in as a reader, discovers them (and still reads the alarms).
func TestHomeAssistantDiscoveryWithBrokerUsers(t *testing.T) {
	dir := t.TempDir()
	line, err := brokerauth.Hash("homeassistant", []byte("ha-pass"))
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "broker-users")
	if err := os.WriteFile(users, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(haConfig("", true, false), `  brokers: [{url: ""}]`,
		`  embedded_broker: "127.0.0.1:0"
  embedded_broker_auth: {password_file: `+users+`, readers: [homeassistant]}`, 1)
	plan := writeConfig(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan Ready, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, plan, testRegistry(), Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: func(r Ready) { ready <- r }})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	var url string
	select {
	case r := <-ready:
		url = "tcp://" + r.Broker
	case err := <-done:
		t.Fatalf("the gateway did not start: %v", err)
	}
	const node = "rackwatch_dc1-b3_2ebattery"
	smoke := "homeassistant/binary_sensor/" + node + "/room_2esmoke__smoke/config"
	cs := retainedConfigsAs(t, mqtt.Config{URL: url, ClientID: "ha", Username: "homeassistant", Password: "ha-pass"},
		func(cs map[string]map[string]any) bool { return len(cs) == 4 })
	if cs[smoke] == nil || cs[smoke]["state_topic"] != "rackwatch/dc1-b3.battery/readings/room.smoke/smoke" {
		t.Errorf("Home Assistant, a reader, discovers %v", keysOf(cs))
	}
}
