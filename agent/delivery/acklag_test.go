package delivery

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/mqtt"
	"github.com/rackwatch/rackwatch/agent/reading"
)

// ackHolder is a TCP proxy to a broker that, once told to, holds back everything the broker sends to the
// gateway (its PUBACKs among it) while passing on everything the gateway sends: a broker whose
// acknowledgements lag, as Mosquitto's do by about 40 ms when Nagle's algorithm on its side meets the
// gateway's delayed ACKs.
type ackHolder struct {
	ln   net.Listener
	mu   sync.Mutex
	held bool
	buf  []byte
	down []net.Conn // the gateway's side of each connection
}

func startAckHolder(t *testing.T, to string) *ackHolder {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &ackHolder{ln: ln}
	t.Cleanup(func() {
		ln.Close()
		h.mu.Lock()
		for _, c := range h.down {
			c.Close()
		}
		h.mu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", to)
			if err != nil {
				c.Close()
				continue
			}
			h.mu.Lock()
			h.down = append(h.down, c)
			h.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() {
				b := make([]byte, 32<<10)
				for {
					n, err := up.Read(b)
					if n > 0 {
						h.mu.Lock()
						if h.held {
							h.buf = append(h.buf, b[:n]...)
						} else if _, werr := c.Write(b[:n]); werr != nil {
							err = werr
						}
						h.mu.Unlock()
					}
					if err != nil {
						c.Close()
						return
					}
				}
			}()
		}
	}()
	return h
}

func (h *ackHolder) addr() string { return h.ln.Addr().String() }

func (h *ackHolder) hold() { h.mu.Lock(); h.held = true; h.mu.Unlock() }

// release passes on what was held (one connection is enough for these tests) and stops holding.
func (h *ackHolder) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.held = false
	if len(h.down) > 0 && len(h.buf) > 0 {
		h.down[len(h.down)-1].Write(h.buf)
	}
	h.buf = nil
}

// A reading read while an alarm sent before it waits for the broker's acknowledgement is published at
// once, behind the alarm on the same connection: it no longer waits for the PUBACK (which held every
// value by ~40 ms behind Mosquitto's Nagle-delayed acknowledgements). Here the acknowledgements never
// come until the reading has arrived; before, the reading waited for them.
func TestReadingNotHeldBehindAlarmAcks(t *testing.T) {
	b := startEmbedded(t)
	h := startAckHolder(t, b.Addr())
	s := subscribe(t, b.URL(), "watch", true, "rackwatch/gw1/events", "rackwatch/gw1/readings/#")
	cfg := testConfig(t, t.TempDir(), "  brokers: [{url: \"tcp://"+h.addr()+"\"}]\n  readings: {every: 1h, deadband: 0}")
	d, err := Open(context.Background(), cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer closeDelivery2(d)
	defer h.release() // before Close, which flushes
	waitReady(t, d)

	h.hold()
	feed(t, d, 1, 1)
	s.waitFor("the alarm at the broker", func(ms []mqtt.Received) bool { return len(onTopic(ms, "rackwatch/gw1/events")) == 1 })
	if got := d.targets[0].pending(d.j.LastID()); got != 1 {
		t.Fatalf("%d transitions pending, want the alarm still waiting for its acknowledgement", got)
	}
	d.Reading(&reading.Reading{Sensor: "ups1", Channel: reading.BatteryTemp, Value: 31.5, At: time.Now()}, &celsius)
	ms := s.waitFor("the reading, while the alarm's acknowledgement is held back", func(ms []mqtt.Received) bool {
		return len(onTopic(ms, "rackwatch/gw1/readings/ups1/battery_temp")) == 1
	})
	// It came behind the alarm.
	if ms[0].Topic != "rackwatch/gw1/events" {
		t.Errorf("first at the broker: %s, want the alarm", ms[0].Topic)
	}
	h.release()
	deadline := time.Now().Add(failAfter)
	for d.targets[0].pending(d.j.LastID()) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the alarm was never acknowledged after the broker's acknowledgements were let through")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Alarms still go first: while more transitions wait in the journal than the in-flight window holds,
// readings wait, and every transition reaches the broker before the reading handed over after them.
func TestAlarmsBeforeReadingsWhenBothQueued(t *testing.T) {
	old := maxInFlight
	maxInFlight = 2
	defer func() { maxInFlight = old }()
	b := startEmbedded(t)
	h := startAckHolder(t, b.Addr())
	s := subscribe(t, b.URL(), "watch", true, "rackwatch/gw1/events", "rackwatch/gw1/readings/#")
	cfg := testConfig(t, t.TempDir(), "  brokers: [{url: \"tcp://"+h.addr()+"\"}]\n  readings: {every: 1h, deadband: 0}")
	d, err := Open(context.Background(), cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer closeDelivery2(d)
	defer h.release()
	waitReady(t, d)

	h.hold()
	feed(t, d, 1, 5) // two in flight, three waiting for room in the window
	s.waitFor("the first two alarms", func(ms []mqtt.Received) bool { return len(onTopic(ms, "rackwatch/gw1/events")) == 2 })
	d.Reading(&reading.Reading{Sensor: "ups1", Channel: reading.BatteryTemp, Value: 31.5, At: time.Now()}, &celsius)
	h.release()
	ms := s.waitFor("the five alarms and the reading", func(ms []mqtt.Received) bool {
		return len(onTopic(ms, "rackwatch/gw1/events")) == 5 && len(onTopic(ms, "rackwatch/gw1/readings/ups1/battery_temp")) == 1
	})
	var order []string
	for _, m := range ms {
		order = append(order, m.Topic[strings.LastIndexByte(m.Topic, '/')+1:])
	}
	if got := fmt.Sprint(order); got != "[events events events events events battery_temp]" {
		t.Errorf("order at the broker: %s, want the five alarms, then the reading", got)
	}
	checkInOrder(t, eventSeqs(t, ms, "rackwatch/gw1/events"), 5)
}
