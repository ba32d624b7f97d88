package mqtt_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/broker"
	"github.com/rackwatch/rackwatch/agent/mqtt"
)

const failAfter = 30 * time.Second // a failure timeout, not a measurement

func TestPublishSubscribeAndLoss(t *testing.T) {
	b, err := broker.Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), failAfter)
	defer cancel()
	got := make(chan mqtt.Received, 10)
	sub, err := mqtt.Connect(ctx, mqtt.Config{URL: b.URL(), ClientID: "sub", CleanSession: true,
		Subscribe: map[string]byte{"t/#": 1},
		OnMessage: func(m mqtt.Received) { m.Payload = append([]byte(nil), m.Payload...); got <- m }})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Disconnect(0)
	pub, err := mqtt.Connect(ctx, mqtt.Config{URL: b.URL(), ClientID: "pub", CleanSession: true,
		Will: &mqtt.Message{Topic: "t/will", Payload: []byte("gone"), QoS: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.PublishWait(ctx, mqtt.Message{Topic: "t/a", Payload: []byte("x"), QoS: 1}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m.Topic != "t/a" || string(m.Payload) != "x" || m.QoS != 1 {
			t.Fatalf("received %+v", m)
		}
	case <-time.After(failAfter):
		t.Fatal("nothing received")
	}
	// A cut connection closes Lost, and the broker publishes the Will.
	b.DropClient("pub")
	select {
	case <-pub.Lost():
	case <-time.After(failAfter):
		t.Fatal("Lost not closed after the connection was cut")
	}
	if err := pub.PublishWait(ctx, mqtt.Message{Topic: "t/b", QoS: 1}); err == nil {
		t.Fatal("publish on a lost connection succeeded")
	}
	select {
	case m := <-got:
		if m.Topic != "t/will" || string(m.Payload) != "gone" {
			t.Fatalf("received %+v, want the will", m)
		}
	case <-time.After(failAfter):
		t.Fatal("no will")
	}
}

func TestExplainRefused(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	url := "tcp://" + l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), failAfter)
	defer cancel()
	_, err := mqtt.Connect(ctx, mqtt.Config{URL: url, ClientID: "x"})
	if err == nil || mqtt.KindOf(err) != mqtt.Unreachable || !errors.Is(err, syscall.ECONNREFUSED) ||
		!strings.Contains(err.Error(), "nothing listens") {
		t.Fatalf("err = %v", err)
	}
}
