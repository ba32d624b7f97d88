package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/mqtt"
	"github.com/rackwatch/rackwatch/agent/reading"
)

// failAfter bounds every wait in these tests; it is a failure timeout, never a measurement. It is long
// enough for a busy machine: a broker restart there can leave delivery several reconnect backoffs behind.
const failAfter = time.Minute

func testLog(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// testConfig builds a config through the real loader, so defaults and validation apply.
func testConfig(t testing.TB, stateDir, mqttYAML string) *config.Config {
	t.Helper()
	y := fmt.Sprintf("gateway: {id: gw1, site: dc1, state_dir: %s}\nmqtt:\n%s\nsensors:\n  - {id: s1, driver: sim}\n", stateDir, mqttYAML)
	cfg, err := config.Parse("test.yaml", []byte(y))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, y)
	}
	return cfg
}

// sub is a test subscriber that records everything it receives.
type sub struct {
	t    testing.TB
	cl   *mqtt.Client
	mu   sync.Mutex
	msgs []mqtt.Received
	got  chan struct{}
}

func subscribe(t testing.TB, url, clientID string, clean bool, filters ...string) *sub {
	t.Helper()
	s := &sub{t: t, got: make(chan struct{}, 1)}
	fs := map[string]byte{}
	for _, f := range filters {
		fs[f] = 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), failAfter)
	defer cancel()
	cl, err := mqtt.Connect(ctx, mqtt.Config{URL: url, ClientID: clientID, CleanSession: clean, Subscribe: fs,
		OnMessage: func(m mqtt.Received) {
			m.Payload = append([]byte(nil), m.Payload...)
			s.mu.Lock()
			s.msgs = append(s.msgs, m)
			s.mu.Unlock()
			select {
			case s.got <- struct{}{}:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	s.cl = cl
	t.Cleanup(func() { cl.Disconnect(0) })
	return s
}

func (s *sub) close() { s.cl.Disconnect(0) }

func (s *sub) snapshot() []mqtt.Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]mqtt.Received(nil), s.msgs...)
}

// waitFor waits until cond holds over the messages received so far.
func (s *sub) waitFor(what string, cond func([]mqtt.Received) bool) []mqtt.Received {
	s.t.Helper()
	deadline := time.After(failAfter)
	for {
		ms := s.snapshot()
		if cond(ms) {
			return ms
		}
		select {
		case <-s.got:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			var b strings.Builder
			for _, m := range ms {
				fmt.Fprintf(&b, "  %s retain=%v qos=%d %s\n", m.Topic, m.Retain, m.QoS, m.Payload)
			}
			s.t.Fatalf("timed out waiting for %s; received:\n%s", what, b.String())
		}
	}
}

func onTopic(ms []mqtt.Received, topic string) []mqtt.Received {
	var out []mqtt.Received
	for _, m := range ms {
		if m.Topic == topic {
			out = append(out, m)
		}
	}
	return out
}

// events returns the seqs of the alarm objects received on the events topic, in arrival order.
func eventSeqs(t testing.TB, ms []mqtt.Received, topic string) []uint64 {
	var out []uint64
	for _, m := range onTopic(ms, topic) {
		var a contract.Alarm
		if err := json.Unmarshal(m.Payload, &a); err != nil {
			t.Fatalf("event payload %s: %v", m.Payload, err)
		}
		out = append(out, a.Seq)
	}
	return out
}

// checkInOrder asserts that seqs, deduplicated as a consumer would (by seq), are exactly 1..n in order:
// every arrival is either a redelivery of something already seen or the next seq.
func checkInOrder(t testing.TB, seqs []uint64, n uint64) {
	t.Helper()
	var max uint64
	for i, s := range seqs {
		switch {
		case s <= max: // redelivery (at-least-once)
		case s == max+1:
			max = s
		default:
			t.Fatalf("arrival %d: seq %d after %d: a gap or reordering (%v)", i, s, max, seqs)
		}
	}
	if max != n {
		t.Fatalf("received up to seq %d, want %d", max, n)
	}
}

var t0 = time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)

// transition builds the n-th transition of a flapping level alarm on sensor s.
func transition(seq uint64, rule, sensor, ch string) contract.Alarm {
	state, ev := contract.Active, contract.EventRaise
	if seq%2 == 0 {
		state, ev = contract.Cleared, contract.EventClear
	}
	key := rule
	if sensor != "" {
		key = rule + "/" + sensor + "/" + ch
	}
	at := t0.Add(time.Duration(seq) * time.Second)
	return contract.Alarm{Gateway: "gw1", Site: "dc1", Key: key, Rule: rule, Sensor: sensor, Channel: ch,
		Severity: contract.Critical, State: state, Value: contract.Float(40 + float64(seq)), Unit: "°C",
		Threshold: contract.Float(45), Since: at, Time: at, Seq: seq, Event: ev,
		Message: fmt.Sprintf("%s %s on %s", rule, state, sensor), Labels: map[string]string{"room": "batt"}}
}

func waitReady(t testing.TB, d *Delivery) {
	t.Helper()
	deadline := time.Now().Add(failAfter)
	for !d.ready() {
		if time.Now().After(deadline) {
			t.Fatalf("delivery not connected: %v", d.Health())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func closeDelivery(t testing.TB, d *Delivery) {
	ctx, cancel := context.WithTimeout(context.Background(), failAfter)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Errorf("close: %v", err)
	}
}

// reconnect replaces a subscriber's lost connection with a new one under the same client id (a
// persistent session resumes and the broker delivers what it queued meanwhile).
func (s *sub) reconnect(url, clientID string, clean bool, filters ...string) {
	s.t.Helper()
	fs := map[string]byte{}
	for _, f := range filters {
		fs[f] = 1
	}
	deadline := time.Now().Add(failAfter)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), failAfter)
		cl, err := mqtt.Connect(ctx, mqtt.Config{URL: url, ClientID: clientID, CleanSession: clean, Subscribe: fs,
			OnMessage: func(m mqtt.Received) {
				m.Payload = append([]byte(nil), m.Payload...)
				s.mu.Lock()
				s.msgs = append(s.msgs, m)
				s.mu.Unlock()
				select {
				case s.got <- struct{}{}:
				default:
				}
			}})
		cancel()
		if err == nil {
			s.cl = cl
			s.t.Cleanup(func() { cl.Disconnect(0) })
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The formats the tests' channels are written with.
var (
	celsius     = reading.Format{Unit: "°C", Resolution: 0.01}
	smokeFormat = reading.CanonicalFormat(reading.Smoke)
)
