package delivery

import (
	"context"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/homeassistant"
	"github.com/rackwatch/rackwatch/agent/mqtt"
	"github.com/rackwatch/rackwatch/agent/reading"
)

// A gateway restarted without a sensor: its broker hands back the sensor's retained discovery config as
// soon as the connection is up, before the gateway has built its discovery configs; the config is still
// cleared once they are known (it was dropped, and Home Assistant kept showing the removed sensor).
func TestDiscoveryClearsConfigsReceivedEarly(t *testing.T) {
	b := startEmbedded(t)
	ctx, cancel := context.WithTimeout(context.Background(), failAfter)
	defer cancel()
	const old = "homeassistant/sensor/rackwatch_gw1/gone__temperature/config"
	pub, err := mqtt.Connect(ctx, mqtt.Config{URL: b.URL(), ClientID: "last-run", CleanSession: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.PublishWait(ctx, mqtt.Message{Topic: old, Payload: []byte(`{"name":"gone temperature"}`), QoS: 1, Retain: true}); err != nil {
		t.Fatal(err)
	}
	pub.Disconnect(0)

	received := make(chan string, 16)
	discoveryReceived = func(topic string) {
		select {
		case received <- topic:
		default:
		}
	}
	t.Cleanup(func() { discoveryReceived = nil })
	d, err := Open(context.Background(), testConfig(t, t.TempDir(), "  brokers: [{url: "+b.URL()+"}]\n  home_assistant: {discovery_prefix: homeassistant}"), testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer closeDelivery(t, d)
	select {
	case topic := <-received:
		if topic != old {
			t.Fatalf("the broker handed back %s", topic)
		}
	case <-ctx.Done():
		t.Fatal("the broker never handed back the retained config")
	}
	d.Discover(homeassistant.New(homeassistant.Gateway{ID: "gw1", TopicPrefix: "rackwatch", DiscoveryPrefix: "homeassistant", Readings: true},
		[]homeassistant.Channel{{Sensor: "s1", Channel: reading.Temperature, Format: reading.Format{Unit: "°C", Resolution: 0.1}}}, nil))

	// Home Assistant's view: s1's config, and none for the sensor that left.
	for {
		got := map[string]bool{}
		msgs := make(chan mqtt.Received, 16)
		cl, err := mqtt.Connect(ctx, mqtt.Config{URL: b.URL(), ClientID: "ha", CleanSession: true, Subscribe: map[string]byte{"homeassistant/#": 1},
			OnMessage: func(m mqtt.Received) {
				if m.Retain && len(m.Payload) > 0 {
					msgs <- m
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		quiet := time.After(200 * time.Millisecond)
	collect:
		for {
			select {
			case m := <-msgs:
				got[m.Topic] = true
			case <-quiet:
				break collect
			}
		}
		cl.Disconnect(0)
		if !got[old] && got["homeassistant/sensor/rackwatch_gw1/s1__temperature/config"] {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("retained discovery configs: %v", got)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
