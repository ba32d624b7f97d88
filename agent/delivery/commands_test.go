package delivery

import (
	"context"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/mqtt"
)

func waitHealthy(t *testing.T, d *Delivery) {
	t.Helper()
	deadline := time.Now().Add(failAfter)
	for d.Health() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("not connected: %v", d.Health())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Commands come only from the brokers that have commands: true (the default), on all four command topics;
// from a broker with commands: false nothing is subscribed, and what still arrives (a session kept from
// when it had commands) is ignored unread and counted.
func TestCommandsFromChosenBrokers(t *testing.T) {
	central, dash := startEmbedded(t), startEmbedded(t)
	state := t.TempDir()
	// First the dashboards' broker takes commands: the gateway's persistent session there subscribes.
	d, err := Open(context.Background(), testConfig(t, state, "  brokers: [{url: "+dash.URL()+"}]"), testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	waitHealthy(t, d)
	closeDelivery(t, d)

	d, err = Open(context.Background(), testConfig(t, state, "  brokers: [{url: "+central.URL()+"}, {url: "+dash.URL()+", commands: false}]"), testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer closeDelivery(t, d)
	waitHealthy(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), failAfter)
	defer cancel()
	pub := func(url, topic string) {
		cl, err := mqtt.Connect(ctx, mqtt.Config{URL: url, ClientID: "op-" + topic[len(topic)-3:], CleanSession: true})
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Disconnect(0)
		if err := cl.PublishWait(ctx, mqtt.Message{Topic: topic, Payload: []byte(`{"v":1}`), QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}
	tp := contract.NewTopics("rackwatch", "gw1")
	for _, a := range []string{contract.Ack, contract.Shelve} {
		pub(dash.URL(), tp.Command(a))
	}
	got := map[string]bool{}
	for _, a := range []string{contract.Ack, contract.Shelve, contract.Unshelve, contract.OutputTest} {
		pub(central.URL(), tp.Command(a))
	}
	for len(got) < 4 {
		select {
		case c := <-d.Commands():
			if c.Broker != central.URL() {
				t.Fatalf("a command from %s was passed on: %+v", c.Broker, c)
			}
			got[c.Kind] = true
		case <-ctx.Done():
			t.Fatalf("commands received: %v", got)
		}
	}
	deadline := time.Now().Add(failAfter)
	for {
		var ignored uint64
		for _, ig := range d.CommandStats().Ignored {
			if ig.Broker == dash.URL() && ig.Why == "commands_false" {
				ignored = ig.N
			}
		}
		if ignored == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ignored %d commands from the dashboards' broker, want 2: %+v", ignored, d.CommandStats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case c := <-d.Commands():
		t.Fatalf("a command from the dashboards' broker was passed on: %+v", c)
	default:
	}
}
