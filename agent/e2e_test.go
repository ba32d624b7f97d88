package agent

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/broker"
	"github.com/rackwatch/rackwatch/agent/buildinfo"
	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/mqtt"
)

// recorder is an MQTT subscriber that keeps everything it receives.
type recorder struct {
	mu   sync.Mutex
	msgs []mqtt.Received
	cl   *mqtt.Client
}

func subscribeAll(t *testing.T, url, id string) *recorder {
	t.Helper()
	r := &recorder{}
	cl, err := mqtt.Connect(context.Background(), mqtt.Config{URL: url, ClientID: id, CleanSession: true, KeepAlive: 30 * time.Second,
		Subscribe: map[string]byte{"rackwatch/#": 1},
		OnMessage: func(m mqtt.Received) {
			m.Payload = append([]byte(nil), m.Payload...)
			r.mu.Lock()
			r.msgs = append(r.msgs, m)
			r.mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	r.cl = cl
	t.Cleanup(func() { cl.Disconnect(0) })
	return r
}

func (r *recorder) wait(t *testing.T, what string, cond func(ms []mqtt.Received) bool) []mqtt.Received {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // a failure timeout, not a measurement
	for time.Now().Before(deadline) {
		r.mu.Lock()
		ms := append([]mqtt.Received(nil), r.msgs...)
		r.mu.Unlock()
		if cond(ms) {
			return ms
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("never saw %s", what)
	return nil
}

func on(ms []mqtt.Received, topic string) []mqtt.Received {
	var out []mqtt.Received
	for _, m := range ms {
		if m.Topic == topic {
			out = append(out, m)
		}
	}
	return out
}

func statusState(t *testing.T, m mqtt.Received) string {
	var s struct{ State, Version, Time string }
	if err := json.Unmarshal(m.Payload, &s); err != nil {
		t.Fatalf("status payload %s: %v", m.Payload, err)
	}
	if _, err := time.Parse(contract.TimeFormat, s.Time); err != nil || !strings.HasSuffix(s.Time, "Z") || len(s.Time) != len("2006-01-02T15:04:05.000Z") {
		t.Errorf("status time %q is not RFC 3339 UTC with milliseconds", s.Time)
	}
	return s.State
}

// The battery-runaway story, end to end: simulated sensors -> scheduler -> rules -> journal -> an MQTT
// broker (mochi, as embedded brokers are, started here so the test can cut the agent's connection),
// checked as a subscriber sees it: topics, QoS, retain flags, payload fields, the Last Will when the
// agent's connection is cut, and "offline" at shutdown.
func TestEndToEndBatteryRunawayOverMQTT(t *testing.T) {
	b, err := broker.Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	opKeys, keyDir := operatorKeys(t, "night-shift")
	plan := writeConfig(t, `
operators: [{name: night-shift, public_key_file: `+filepath.Join(keyDir, "night-shift.pub")+`}]
gateway: {id: gw, site: lab, state_dir: STATE}
mqtt:
  brokers: [{url: "`+b.URL()+`"}]
  readings: {every: 1s, deadband: 1}
sensors:
  - {id: ups1, driver: sim, scenario: battery-runaway, start_at: 5m, time_scale: 120, every: 50ms, channels: [battery_temp, on_battery], labels: {room: battery-room}}
  - {id: room.smoke, driver: sim, scenario: battery-runaway, start_at: 5m, time_scale: 120, every: 50ms, channels: [smoke], labels: {room: battery-room}}
rules:
  - {id: batt-hot, match: {sensor: ups1, channel: battery_temp}, above: 45, clear: 40, severity: critical}
  - {id: smoke, match: {channel: smoke}, above: 0.5, latch: true, severity: critical}
  - {id: on-battery, match: {channel: on_battery}, state: true, severity: warning}
  - {id: fire, all: [smoke, batt-hot], severity: critical}
`)
	buildinfo.Version = "e2e"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, plan, testRegistry(), Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}()
	url := b.URL()
	sub := subscribeAll(t, url, "e2e-sub")

	// From minute 5 (the battery warm, not yet hot) the story reaches the hot battery, smoke, fire and the
	// UPS on battery in a second and a quarter at time_scale 120.
	ms := sub.wait(t, "the fire composite", func(ms []mqtt.Received) bool { return len(on(ms, "rackwatch/gw/alarms/fire")) > 0 })
	ms = sub.wait(t, "on battery", func(ms []mqtt.Received) bool {
		return len(on(ms, "rackwatch/gw/alarms/on-battery/ups1/on_battery")) > 0
	})

	if st := on(ms, "rackwatch/gw/status"); len(st) == 0 || statusState(t, st[0]) != "online" || st[0].QoS != 1 {
		t.Errorf("status: %+v", st)
	}
	events := on(ms, "rackwatch/gw/events")
	var seq uint64
	var keys []string
	for _, m := range events {
		var a contract.Alarm
		if err := json.Unmarshal(m.Payload, &a); err != nil {
			t.Fatal(err)
		}
		if m.Retain || m.QoS != 1 {
			t.Errorf("event %d: retain %v qos %d, want not retained at QoS 1", a.Seq, m.Retain, m.QoS)
		}
		if a.Seq != seq+1 {
			t.Errorf("event seq %d after %d: gap or disorder", a.Seq, seq)
		}
		seq = a.Seq
		keys = append(keys, a.Key+":"+a.Event)
	}
	want := []string{"batt-hot/ups1/battery_temp:raise", "smoke/room.smoke/smoke:raise", "fire:raise", "on-battery/ups1/on_battery:raise"}
	if strings.Join(keys, " ") != strings.Join(want, " ") {
		t.Errorf("events:\n got %v\nwant %v", keys, want)
	}
	smoke := on(ms, "rackwatch/gw/alarms/smoke/room.smoke/smoke")
	if len(smoke) != 1 || smoke[0].QoS != 1 {
		t.Fatalf("smoke alarm topic: %+v", smoke)
	}
	var raw map[string]any
	json.Unmarshal(smoke[0].Payload, &raw)
	for _, f := range []string{"gateway", "site", "alarm", "rule", "sensor", "channel", "severity", "state", "acked",
		"shelved_until", "value", "unit", "threshold", "since", "time", "seq", "episode", "message", "labels"} {
		if _, ok := raw[f]; !ok {
			t.Errorf("alarm object lacks %q: %s", f, smoke[0].Payload)
		}
	}
	if raw["gateway"] != "gw" || raw["site"] != "lab" || raw["state"] != "active" || raw["severity"] != "critical" ||
		raw["labels"].(map[string]any)["room"] != "battery-room" || !strings.Contains(raw["message"].(string), "smoke") {
		t.Errorf("smoke alarm: %s", smoke[0].Payload)
	}
	if r := on(ms, "rackwatch/gw/readings/ups1/battery_temp"); len(r) == 0 || r[0].Retain || !strings.Contains(string(r[0].Payload), `"quality":"good"`) {
		t.Errorf("readings: %+v", r)
	}

	// A late subscriber gets the current state of every alarm from the retained topics.
	late := subscribeAll(t, url, "e2e-late")
	lm := late.wait(t, "retained alarm states", func(ms []mqtt.Received) bool { return len(on(ms, "rackwatch/gw/alarms/fire")) > 0 })
	for _, m := range lm {
		if strings.Contains(m.Topic, "/alarms/") && !m.Retain {
			t.Errorf("%s reached a late subscriber without the retain flag", m.Topic)
		}
		if m.Topic == "rackwatch/gw/events" {
			t.Error("events are retained")
		}
	}

	// An operator acknowledges the latched smoke alarm from the central console; a typo is refused.
	for _, c := range []struct{ topic, payload string }{
		{"rackwatch/gw/cmd/ack", string(signed(t, opKeys["night-shift"], "night-shift", "gw", contract.Ack, "smoke/room.smoke/smoke", func(s *contract.Signed) { s.ID = "a1" }))},
		{"rackwatch/gw/cmd/ack", string(signed(t, opKeys["night-shift"], "night-shift", "gw", contract.Ack, "smoke/room.smok/smoke", func(s *contract.Signed) { s.ID = "a2" }))},
	} {
		if err := sub.cl.PublishWait(context.Background(), mqtt.Message{Topic: c.topic, QoS: 1, Payload: []byte(c.payload)}); err != nil {
			t.Fatal(err)
		}
	}
	ms = sub.wait(t, "two command results", func(ms []mqtt.Received) bool { return len(on(ms, "rackwatch/gw/cmd/result")) == 2 })
	res := map[string]map[string]any{}
	for _, m := range on(ms, "rackwatch/gw/cmd/result") {
		var r map[string]any
		json.Unmarshal(m.Payload, &r)
		res[r["id"].(string)] = r
	}
	if res["a1"]["ok"] != true || res["a2"]["ok"] != false || !strings.Contains(res["a2"]["error"].(string), "smoke/room.smok/smoke") {
		t.Errorf("command results: %v", res)
	}
	sub.wait(t, "the ack transition", func(ms []mqtt.Received) bool {
		for _, m := range on(ms, "rackwatch/gw/events") {
			var a contract.Alarm
			json.Unmarshal(m.Payload, &a)
			if a.Key == "smoke/room.smoke/smoke" && a.Event == contract.EventAck && a.Acked && a.AckedBy == "night-shift" {
				return true
			}
		}
		return false
	})

	// Cut the agent's connection as a failing link would: the broker publishes the Last Will.
	if !b.DropClient("rackwatch-gw") {
		t.Fatal("agent's client not connected as rackwatch-gw")
	}
	sub.wait(t, "the Last Will", func(ms []mqtt.Received) bool {
		st := on(ms, "rackwatch/gw/status")
		return len(st) > 1 && statusState(t, st[len(st)-1]) == "offline"
	})
	sub.wait(t, "online again after reconnecting", func(ms []mqtt.Received) bool {
		st := on(ms, "rackwatch/gw/status")
		return len(st) > 2 && statusState(t, st[len(st)-1]) == "online"
	})

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
