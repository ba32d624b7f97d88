package operator

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/internal/mosquittotest"
	"github.com/rackwatch/rackwatch/agent/mqtt"
)

// The broker-side recipe of docs/security.md, on a real Mosquitto with configs/mosquitto/rackwatch.acl:
// a gateway cannot publish as another gateway nor read its commands, the central service and the
// consoles cannot publish alarms, only the consoles can publish commands (and not results), and an
// anonymous client cannot connect at all.
func TestMosquittoRecipe(t *testing.T) {
	acl, err := filepath.Abs(filepath.Join("..", "..", "configs", "mosquitto", "rackwatch.acl"))
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]string{"gw1": "pw-gw1", "gw2": "pw-gw2", "console@ops": "pw-ops", "pager@central": "pw-pager"}
	m := mosquittotest.Start(t, mosquittotest.Options{Users: users, ACLFile: acl})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	type seen struct {
		mu     sync.Mutex
		topics map[string]string
	}
	n := 0
	connect := func(user string, sub map[string]byte, s *seen) *mqtt.Client {
		t.Helper()
		n++
		cfg := mqtt.Config{URL: m.URL, ClientID: fmt.Sprintf("test-%d", n), Username: user, Password: users[user], CleanSession: true,
			KeepAlive: 30 * time.Second, Subscribe: sub}
		if s != nil {
			s.topics = map[string]string{}
			cfg.OnMessage = func(r mqtt.Received) {
				s.mu.Lock()
				s.topics[r.Topic] = string(r.Payload)
				s.mu.Unlock()
			}
		}
		cl, err := mqtt.Connect(ctx, cfg)
		if err != nil {
			t.Fatalf("%s: %v\n%s", user, err, m.Log())
		}
		t.Cleanup(func() { cl.Disconnect(0) })
		return cl
	}
	var central, gw1cmds, gw2spy seen
	connect("pager@central", map[string]byte{"rackwatch/#": 1}, &central)
	connect("gw1", map[string]byte{"rackwatch/gw1/cmd/#": 1}, &gw1cmds)
	gw2 := connect("gw2", map[string]byte{"rackwatch/gw1/cmd/#": 1, "rackwatch/gw2/cmd/#": 1}, &gw2spy)
	ops := connect("console@ops", nil, nil)
	pager := connect("pager@central", nil, nil)

	pub := func(cl *mqtt.Client, topic, payload string) {
		t.Helper()
		if err := cl.PublishWait(ctx, mqtt.Message{Topic: topic, Payload: []byte(payload), QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}
	// Forgeries, each followed by an allowed marker from the same client (Mosquitto keeps a client's order).
	pub(gw2, "rackwatch/gw1/alarms/smoke/batt-room.smoke/smoke", `{"state":"cleared","by":"gw2"}`)
	pub(gw2, "rackwatch/gw1/status", `{"state":"online"}`)
	pub(gw2, "rackwatch/gw1/cmd/result", `{"ok":true}`)
	pub(gw2, "rackwatch/gw2/status", "marker-gw2")
	pub(pager, "rackwatch/gw1/cmd/ack", "from-pager")
	pub(pager, "rackwatch/gw1/alarms/smoke", "from-pager")
	pub(ops, "rackwatch/gw1/alarms/smoke", "from-ops")
	pub(ops, "rackwatch/gw1/cmd/result", "from-ops")
	pub(ops, "rackwatch/gw1/cmd/ack", "marker-ops")

	deadline := time.Now().Add(30 * time.Second)
	for {
		central.mu.Lock()
		gw1cmds.mu.Lock()
		done := central.topics["rackwatch/gw2/status"] == "marker-gw2" && central.topics["rackwatch/gw1/cmd/ack"] == "marker-ops" &&
			gw1cmds.topics["rackwatch/gw1/cmd/ack"] == "marker-ops"
		gw1cmds.mu.Unlock()
		central.mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the allowed publications did not arrive: %v %v\n%s", central.topics, gw1cmds.topics, m.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	central.mu.Lock()
	for topic, p := range central.topics {
		switch {
		case topic == "rackwatch/gw2/status" || topic == "rackwatch/gw1/cmd/ack" && p == "marker-ops":
		default:
			t.Errorf("a forgery reached the central service: %s %s", topic, p)
		}
	}
	central.mu.Unlock()
	gw2spy.mu.Lock()
	if len(gw2spy.topics) != 0 {
		t.Errorf("gw2 read gw1's commands: %v", gw2spy.topics)
	}
	gw2spy.mu.Unlock()

	// No anonymous client, and no wrong password, gets in at all.
	for _, c := range []mqtt.Config{
		{URL: m.URL, ClientID: "anon", CleanSession: true},
		{URL: m.URL, ClientID: "guess", Username: "console@ops", Password: "guess", CleanSession: true},
	} {
		cl, err := mqtt.Connect(ctx, c)
		var me *mqtt.Error
		if err == nil {
			cl.Disconnect(0)
			t.Fatalf("%q connected", c.Username)
		}
		if !errors.As(err, &me) || me.Kind != mqtt.BadLogin {
			t.Errorf("%q: %v", c.Username, err)
		}
	}
}
