package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/rackwatch/rackwatch/agent/broker"
	"github.com/rackwatch/rackwatch/agent/buildinfo"
	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/mqtt"
	"github.com/rackwatch/rackwatch/agent/reading"
)

func startEmbedded(t testing.TB) *broker.Broker {
	t.Helper()
	b, err := broker.Start("127.0.0.1:0", testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

type status struct {
	State, Version, Time string
}

func decodeStatus(t testing.TB, m mqtt.Received) status {
	var s status
	if err := json.Unmarshal(m.Payload, &s); err != nil {
		t.Fatalf("status payload %s: %v", m.Payload, err)
	}
	if _, err := time.Parse(contract.TimeFormat, s.Time); err != nil {
		t.Fatalf("status time %q is not RFC 3339 UTC with milliseconds", s.Time)
	}
	return s
}

// The MQTT contract, against the embedded broker: topics, QoS, retain flags, payload fields, commands,
// the Last Will when the connection is cut, and the offline status on Close.
func TestContractEmbeddedBroker(t *testing.T) {
	b := startEmbedded(t)
	buildinfo.Version = "1.2.3-test"
	cfg := testConfig(t, t.TempDir(), "  embedded_broker: "+b.Addr()+"\n  readings: {every: 10s, deadband: 0.5}")
	live := subscribe(t, b.URL(), "live", true, "rackwatch/gw1/#")
	d, err := Open(context.Background(), cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer closeDelivery(t, d)
	waitReady(t, d)
	if err := d.Health(); err != nil {
		t.Fatalf("health: %v", err)
	}
	st := live.waitFor("online status", func(ms []mqtt.Received) bool { return len(onTopic(ms, "rackwatch/gw1/status")) > 0 })
	if s := decodeStatus(t, onTopic(st, "rackwatch/gw1/status")[0]); s.State != "online" || s.Version != "1.2.3-test" {
		t.Fatalf("status = %+v", s)
	}

	// Three transitions: a level alarm raised and cleared, and a composite raised.
	a1, a2 := transition(1, "batt-heating", "ups1", "battery_temp"), transition(2, "batt-heating", "ups1", "battery_temp")
	comp := transition(3, "fire-suspected", "", "")
	if err := d.Transitions([]contract.Alarm{a1, a2, comp}); err != nil {
		t.Fatal(err)
	}
	ms := live.waitFor("3 events", func(ms []mqtt.Received) bool { return len(onTopic(ms, "rackwatch/gw1/events")) == 3 })
	if seqs := eventSeqs(t, ms, "rackwatch/gw1/events"); seqs[0] != 1 || seqs[1] != 2 || seqs[2] != 3 {
		t.Fatalf("event order %v", seqs)
	}
	for _, m := range onTopic(ms, "rackwatch/gw1/events") {
		if m.QoS != 1 {
			t.Fatalf("event delivered at QoS %d, want 1", m.QoS)
		}
	}
	var got contract.Alarm
	json.Unmarshal(onTopic(ms, "rackwatch/gw1/events")[0].Payload, &got)
	want, _ := json.Marshal(a1)
	if b, _ := json.Marshal(got); !bytes.Equal(b, want) {
		t.Fatalf("event payload\n got %s\nwant %s", b, want)
	}
	var raw map[string]any
	json.Unmarshal(onTopic(ms, "rackwatch/gw1/events")[0].Payload, &raw)
	for _, f := range []string{"gateway", "site", "alarm", "rule", "sensor", "channel", "severity", "state", "acked",
		"shelved_until", "value", "unit", "threshold", "since", "time", "seq", "episode", "message", "labels"} {
		if _, ok := raw[f]; !ok {
			t.Errorf("alarm payload lacks %q: %s", f, onTopic(ms, "rackwatch/gw1/events")[0].Payload)
		}
	}
	if raw["time"] != "2026-11-25T03:00:01.000Z" {
		t.Errorf("time = %v, want RFC 3339 UTC with milliseconds", raw["time"])
	}

	// A subscriber arriving later gets the retained state: the latest of each alarm, the status, and no
	// events.
	late := subscribe(t, b.URL(), "late", true, "rackwatch/gw1/#")
	ms = late.waitFor("retained alarms and status", func(ms []mqtt.Received) bool { return len(ms) >= 3 })
	time.Sleep(100 * time.Millisecond) // let anything unexpected arrive too
	ms = late.snapshot()
	byTopic := map[string]mqtt.Received{}
	for _, m := range ms {
		if !m.Retain {
			t.Errorf("late subscriber got a non-retained %s", m.Topic)
		}
		byTopic[m.Topic] = m
	}
	if len(byTopic) != 3 {
		t.Fatalf("retained topics = %v", keys(byTopic))
	}
	var lvl, cmp contract.Alarm
	json.Unmarshal(byTopic["rackwatch/gw1/alarms/batt-heating/ups1/battery_temp"].Payload, &lvl)
	json.Unmarshal(byTopic["rackwatch/gw1/alarms/fire-suspected"].Payload, &cmp)
	if lvl.Seq != 2 || lvl.State != contract.Cleared || cmp.Seq != 3 || cmp.State != contract.Active {
		t.Fatalf("retained states: level %+v composite %+v", lvl, cmp)
	}
	late.close()

	// Readings: deadband 0.5, heartbeat 10 s.
	rs := []reading.Reading{
		{Sensor: "ups1", Channel: "battery_temp", Value: 30, At: t0},
		{Sensor: "ups1", Channel: "battery_temp", Value: 30.4, At: t0.Add(time.Second)}, // within deadband
		{Sensor: "ups1", Channel: "battery_temp", Value: 30.6, At: t0.Add(2 * time.Second)},
		{Sensor: "ups1", Channel: "battery_temp", Quality: reading.Bad, Err: errors.New("modbus: timeout"), At: t0.Add(3 * time.Second)},
		{Sensor: "ups1", Channel: "battery_temp", Quality: reading.Bad, Err: errors.New("modbus: timeout"), At: t0.Add(4 * time.Second)},
		{Sensor: "ups1", Channel: "battery_temp", Quality: reading.Bad, Err: errors.New("modbus: timeout"), At: t0.Add(14 * time.Second)}, // heartbeat
	}
	for i := range rs {
		d.Reading(&rs[i], &celsius)
	}
	rt := "rackwatch/gw1/readings/ups1/battery_temp"
	ms = live.waitFor("4 readings", func(ms []mqtt.Received) bool { return len(onTopic(ms, rt)) >= 4 })
	wantR := []string{
		`{"value":30,"unit":"°C","quality":"good","error":null,"time":"2026-11-25T03:00:00.000Z"}`,
		`{"value":30.6,"unit":"°C","quality":"good","error":null,"time":"2026-11-25T03:00:02.000Z"}`,
		`{"value":null,"unit":"°C","quality":"bad","error":"modbus: timeout","time":"2026-11-25T03:00:03.000Z"}`,
		`{"value":null,"unit":"°C","quality":"bad","error":"modbus: timeout","time":"2026-11-25T03:00:14.000Z"}`,
	}
	for i, m := range onTopic(ms, rt) {
		if i >= len(wantR) || string(m.Payload) != wantR[i] {
			t.Fatalf("reading %d = %s", i, m.Payload)
		}
		if m.QoS != 0 || m.Retain {
			t.Fatalf("reading qos %d retain %v, want 0 and not retained", m.QoS, m.Retain)
		}
	}

	// Commands in, results out.
	op := subscribe(t, b.URL(), "operator", true, "rackwatch/gw1/cmd/result")
	ack := []byte(`{"alarm":"batt-heating/ups1/battery_temp","by":"ops"}`)
	if err := op.cl.PublishWait(context.Background(), mqtt.Message{Topic: "rackwatch/gw1/cmd/ack", Payload: ack, QoS: 1}); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-d.Commands():
		if c.Kind != "ack" || !bytes.Equal(c.Payload, ack) {
			t.Fatalf("command = %+v", c)
		}
	case <-time.After(failAfter):
		t.Fatal("no command received")
	}
	d.Answer(contract.Result{Command: "ack", Alarm: "a", OK: true})
	op.waitFor("a result", func(ms []mqtt.Received) bool {
		return len(ms) == 1 && string(ms[0].Payload) == `{"command":"ack","alarm":"a","ok":true}`
	})

	// Cut the agent's connection without DISCONNECT: the broker publishes the Last Will (retained
	// offline), then the agent reconnects and says online again.
	n := len(onTopic(live.snapshot(), "rackwatch/gw1/status"))
	if !b.DropClient("rackwatch-gw1") {
		t.Fatal("agent client not found on the broker")
	}
	ms = live.waitFor("will then online", func(ms []mqtt.Received) bool { return len(onTopic(ms, "rackwatch/gw1/status")) >= n+2 })
	sts := onTopic(ms, "rackwatch/gw1/status")[n:]
	if s := decodeStatus(t, sts[0]); s.State != "offline" {
		t.Fatalf("after the cut: %s, want the offline Last Will", sts[0].Payload)
	}
	if s := decodeStatus(t, sts[1]); s.State != "online" {
		t.Fatalf("after reconnecting: %s", sts[1].Payload)
	}

	// Close: retained offline status, clean disconnect, Commands closed.
	closeDelivery(t, d)
	if _, open := <-d.Commands(); open {
		t.Fatal("Commands still open after Close")
	}
	ms = live.waitFor("offline on close", func(ms []mqtt.Received) bool {
		s := onTopic(ms, "rackwatch/gw1/status")
		return len(s) > n+2 && strings.Contains(string(s[len(s)-1].Payload), `"offline"`)
	})
	after := subscribe(t, b.URL(), "after", true, "rackwatch/gw1/status")
	ms = after.waitFor("retained offline", func(ms []mqtt.Received) bool { return len(ms) == 1 })
	if s := decodeStatus(t, ms[0]); s.State != "offline" || !ms[0].Retain {
		t.Fatalf("retained status after close: %s", ms[0].Payload)
	}
}

func keys(m map[string]mqtt.Received) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Transitions journaled while no broker is reachable go out after it appears, in order, and the journal
// remembers across a restart what was already delivered.
func TestBacklogAcrossRestart(t *testing.T) {
	stateDir := t.TempDir()
	b := startEmbedded(t)
	addr := b.Addr()
	b.Close()
	cfg := testConfig(t, stateDir, "  embedded_broker: "+addr)
	d, err := Open(context.Background(), cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 50; seq++ {
		if err := d.Transitions([]contract.Alarm{transition(seq, "r", "s1", "temperature")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Health(); err == nil {
		t.Fatal("healthy with the broker down")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	if err := d.Flush(ctx); err == nil || !strings.Contains(err.Error(), "50 pending") {
		t.Fatalf("flush with the broker down: %v", err)
	}
	cancel()
	closeDelivery2(d) // gives up: everything stays in the journal

	b2, err := broker.Start(addr, testLog(t))
	if err != nil {
		t.Skipf("could not listen again on %s: %v", addr, err)
	}
	defer b2.Close()
	s := subscribe(t, b2.URL(), "watch", true, "rackwatch/gw1/events")
	d, err = Open(context.Background(), cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	ms := s.waitFor("50 events", func(ms []mqtt.Received) bool { return len(ms) >= 50 })
	checkInOrder(t, eventSeqs(t, ms, "rackwatch/gw1/events"), 50)
	closeDelivery(t, d)

	// Reopen: nothing is sent again.
	d, err = Open(context.Background(), cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, d)
	if err := d.Transitions([]contract.Alarm{transition(51, "r", "s1", "temperature")}); err != nil {
		t.Fatal(err)
	}
	ms = s.waitFor("event 51", func(ms []mqtt.Received) bool { return len(ms) >= 51 })
	checkInOrder(t, eventSeqs(t, ms, "rackwatch/gw1/events"), 51)
	closeDelivery(t, d)
}

func closeDelivery2(d *Delivery) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	d.Close(ctx)
}

// ws:// brokers (MQTT over WebSocket, e.g. behind an HTTP proxy) carry the same contract.
func TestWebsocketBroker(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	srv := mochi.New(&mochi.Options{Logger: testLog(t)})
	srv.AddHook(new(auth.AllowHook), nil)
	if err := srv.AddListener(listeners.NewWebsocket(listeners.Config{ID: "ws", Address: addr})); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	url := "ws://" + addr + "/mqtt"
	// mochi starts its WebSocket listener on a goroutine: retry until it listens.
	s := &sub{t: t, got: make(chan struct{}, 1)}
	s.reconnect(url, "ws-sub", true, "rackwatch/gw1/events")
	cfg := testConfig(t, t.TempDir(), "  brokers:\n    - {url: "+url+"}")
	d, err := Open(context.Background(), cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer closeDelivery(t, d)
	for seq := uint64(1); seq <= 10; seq++ {
		if err := d.Transitions([]contract.Alarm{transition(seq, "r", "s1", "temperature")}); err != nil {
			t.Fatal(err)
		}
	}
	ms := s.waitFor("10 events over websocket", func(ms []mqtt.Received) bool { return len(ms) >= 10 })
	checkInOrder(t, eventSeqs(t, ms, "rackwatch/gw1/events"), 10)
}

// A broker that comes back without its retained messages (the in-memory embedded broker, a Mosquitto
// without persistence) is sent every alarm's current state again after the backlog.
func TestRetainedStatesRepublished(t *testing.T) {
	b := startEmbedded(t)
	addr := b.Addr()
	cfg := testConfig(t, t.TempDir(), "  embedded_broker: "+addr)
	d, err := Open(context.Background(), cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer closeDelivery(t, d)
	restored := transition(1, "smoke", "batt-room.smoke", "smoke") // active before this run started
	if err := d.Restore([]contract.Alarm{restored}); err != nil {
		t.Fatal(err)
	}
	if err := d.Transitions([]contract.Alarm{transition(3, "hot", "r1", "temperature"), transition(4, "hot", "r1", "temperature"),
		transition(5, "fire", "", "")}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), failAfter)
	defer cancel()
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	b.Close()
	b2, err := broker.Start(addr, testLog(t))
	if err != nil {
		t.Skipf("could not listen again on %s: %v", addr, err)
	}
	defer b2.Close()
	want := map[string]uint64{
		"rackwatch/gw1/alarms/smoke/batt-room.smoke/smoke": 1,
		"rackwatch/gw1/alarms/hot/r1/temperature":          4,
		"rackwatch/gw1/alarms/fire":                        5,
	}
	deadline := time.Now().Add(failAfter)
	for {
		// Subscribe afresh each time: only retained messages count here.
		s := subscribe(t, b2.URL(), "dash", true, "rackwatch/gw1/alarms/#")
		time.Sleep(50 * time.Millisecond)
		got := map[string]uint64{}
		for _, m := range s.snapshot() {
			var a contract.Alarm
			json.Unmarshal(m.Payload, &a)
			if m.Retain {
				got[m.Topic] = a.Seq
			}
		}
		s.close()
		if len(got) == len(want) {
			for k, v := range want {
				if got[k] != v {
					t.Fatalf("retained %s has seq %d, want %d (all: %v)", k, got[k], v, got)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("retained states on the restarted broker: %v, want %v", got, want)
		}
	}
}

// The last gasp does not sit out a reconnect backoff: a broker that comes back while the agent waits
// between attempts gets the backlog before Flush's deadline.
func TestFlushRetriesAtOnce(t *testing.T) {
	old := backoffBase
	backoffBase = time.Minute // the next regular attempt would come far after Flush's deadline
	defer func() { backoffBase = old }()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there yet
	cfg := testConfig(t, t.TempDir(), "  brokers: [{url: \"tcp://"+addr+"\"}]")
	d, err := Open(context.Background(), cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer closeDelivery(t, d)
	if err := d.Transitions([]contract.Alarm{transition(1, "low-battery", "ups1", "low_battery")}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(failAfter)
	for d.Health() == nil || !strings.Contains(d.Health().Error(), "refused") {
		if time.Now().After(deadline) {
			t.Fatalf("the first attempt did not fail as refused: %v", d.Health())
		}
		time.Sleep(10 * time.Millisecond) // the first attempt failed: the target is now in its backoff
	}
	b, err := broker.Start(addr, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // shorter than the backoff (30 s at least)
	defer cancel()
	if err := d.Flush(ctx); err != nil {
		t.Fatalf("flush did not reach the broker that came back: %v", err)
	}
}
