package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/brokerauth"
	"github.com/rackwatch/rackwatch/agent/mqtt"
)

// The embedded broker with users: nobody gets in without a password, and each user does only what its
// role allows; the gateway's own login (made at start) publishes its topics, and nobody else can take its
// client id or leave a will on its topics.
func TestUsersAndACL(t *testing.T) {
	hashes := map[string][]byte{}
	for user, pw := range map[string]string{"console": "pw-ops", "grafana": "pw-dash"} {
		line, err := brokerauth.Hash(user, []byte(pw))
		if err != nil {
			t.Fatal(err)
		}
		h, _ := brokerauth.Parse("users", []byte(line))
		hashes[user] = h[user]
	}
	users := brokerauth.New("rackwatch", "gw1", hashes, []string{"console"}, []string{"grafana"})
	lim := DefaultLimits
	lim.OwnClient = "rackwatch-gw1"
	b, err := StartOptions("127.0.0.1:0", nil, Options{Limits: lim, Users: users})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var mu sync.Mutex
	seen := map[string]string{}
	record := func(m mqtt.Received) {
		mu.Lock()
		seen[m.Topic] = string(m.Payload)
		mu.Unlock()
	}
	conn := func(id, user, pass string, sub map[string]byte, will *mqtt.Message) (*mqtt.Client, error) {
		cfg := mqtt.Config{URL: b.URL(), ClientID: id, Username: user, Password: pass, CleanSession: true, KeepAlive: 30 * time.Second,
			Subscribe: sub, Will: will}
		if sub != nil {
			cfg.OnMessage = record
		}
		cl, err := mqtt.Connect(ctx, cfg)
		if err == nil {
			t.Cleanup(func() { cl.Disconnect(0) })
		}
		return cl, err
	}
	for _, c := range []struct {
		name, id, user, pass string
		will                 *mqtt.Message
	}{
		{"anonymous", "anon", "", "", nil},
		{"wrong password", "guess", "console", "guess", nil},
		{"unknown user", "who", "mallory", "pw-ops", nil},
		{"a reader with the gateway's client id", "rackwatch-gw1", "grafana", "pw-dash", nil},
		{"a reader's will on the gateway's status", "will", "grafana", "pw-dash", &mqtt.Message{Topic: "rackwatch/gw1/status", Payload: []byte(`{"state":"offline"}`), QoS: 1, Retain: true}},
	} {
		_, err := conn(c.id, c.user, c.pass, nil, c.will)
		var me *mqtt.Error
		if !errors.As(err, &me) || me.Kind != mqtt.BadLogin {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if logins, _ := b.RefusedAuth(); logins != 5 {
		t.Errorf("%d logins refused, want 5", logins)
	}

	if _, err := conn("dash", "grafana", "pw-dash", map[string]byte{"rackwatch/#": 1}, nil); err != nil {
		t.Fatal(err)
	}
	conn("dash-all", "grafana", "pw-dash", map[string]byte{"#": 1}, nil) // refused in its SUBACK, counted below
	own, pass := users.OwnLogin()
	gw, err := conn("rackwatch-gw1", own, pass, map[string]byte{"rackwatch/gw1/cmd/#": 1}, &mqtt.Message{Topic: "rackwatch/gw1/status", Payload: []byte("offline"), QoS: 1, Retain: true})
	if err != nil {
		t.Fatalf("the gateway's own login: %v", err)
	}
	if _, err := conn("dash", "console", "pw-ops", nil, nil); err == nil {
		t.Error("the console took over the dashboard's session (its client id)")
	}
	// A publication the role does not allow is dropped, and (MQTT 3.1.1 has no way to say so in the
	// PUBACK) the client is disconnected: each forgery on a connection of its own.
	n := 0
	forge := func(user, pass, topic, payload string) {
		n++
		cl, err := conn(fmt.Sprintf("forger-%d", n), user, pass, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		cl.PublishWait(ctx, mqtt.Message{Topic: topic, Payload: []byte(payload), QoS: 1})
	}
	forge("grafana", "pw-dash", "rackwatch/gw1/alarms/smoke", "forged by a reader")
	forge("grafana", "pw-dash", "rackwatch/gw1/cmd/ack", "from a reader")
	forge("console", "pw-ops", "rackwatch/gw1/alarms/smoke", "forged by a console")
	forge("console", "pw-ops", "rackwatch/gw1/cmd/result", "forged by a console")
	forge(own, pass, "rackwatch/gw2/alarms/smoke", "as another gateway") // (a second session of the gateway's user)
	ops, err := conn("console-1", "console", "pw-ops", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		cl             *mqtt.Client
		topic, payload string
	}{{ops, "rackwatch/gw1/cmd/ack", "from the console"}, {gw, "rackwatch/gw1/alarms/smoke", "from the gateway"}} {
		if err := p.cl.PublishWait(ctx, mqtt.Message{Topic: p.topic, Payload: []byte(p.payload), QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		done := seen["rackwatch/gw1/cmd/ack"] != "" && seen["rackwatch/gw1/alarms/smoke"] != ""
		mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the allowed publications never arrived: %v", seen)
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if seen["rackwatch/gw1/cmd/ack"] != "from the console" || seen["rackwatch/gw1/alarms/smoke"] != "from the gateway" ||
		seen["rackwatch/gw1/cmd/result"] != "" || seen["rackwatch/gw2/alarms/smoke"] != "" {
		t.Errorf("what the dashboard saw: %v", seen)
	}
	if _, denied := b.RefusedAuth(); denied < 5 {
		t.Errorf("%d publications or subscriptions denied, want at least 5", denied)
	}
}
