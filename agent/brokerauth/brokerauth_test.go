package brokerauth

import (
	"strings"
	"testing"
)

func TestPasswordFile(t *testing.T) {
	alice, err := Hash("alice", []byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	// htpasswd -B writes $2y$ (the same algorithm as $2a$/$2b$); the library takes it.
	g, _ := Hash("grafana", []byte("dash"))
	grafana := strings.Replace(g, "$2a$", "$2y$", 1)
	hashes, err := Parse("users", []byte("# users of the embedded broker\n\n"+alice+"\n"+grafana+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(hashes) != 2 {
		t.Fatal(hashes)
	}
	for _, c := range []struct{ body, want string }{
		{"alice\n", "users:1: expected user:hash"},
		{alice + "\n" + alice + "\n", "users:2: user \"alice\" appears twice"},
		{"bob:plaintext\n", "users:1: user \"bob\": not a bcrypt hash"},
		{"carol:$6$salt$sha512crypt\n", "not a bcrypt hash"},
	} {
		if _, err := Parse("users", []byte(c.body)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.body, err, c.want)
		}
	}
	u := New("rackwatch", "gw1", hashes, []string{"alice"}, []string{"grafana", "nobody"})
	if r, ok := u.Authenticate("alice", []byte("s3cret")); !ok || r != Operator {
		t.Fatalf("alice: %v %v", r, ok)
	}
	if r, ok := u.Authenticate("alice", []byte("s3cret")); !ok || r != Operator {
		t.Fatalf("alice again (cached): %v %v", r, ok)
	}
	if r, ok := u.Authenticate("grafana", []byte("dash")); !ok || r != Reader {
		t.Fatalf("grafana ($2y$): %v %v", r, ok)
	}
	for _, bad := range []struct{ user, pass string }{{"alice", "wrong"}, {"alice", ""}, {"mallory", "s3cret"}, {"", ""}} {
		if _, ok := u.Authenticate(bad.user, []byte(bad.pass)); ok {
			t.Errorf("%s/%s logged in", bad.user, bad.pass)
		}
	}
	own, pass := u.OwnLogin()
	if r, ok := u.Authenticate(own, []byte(pass)); !ok || r != Gateway {
		t.Fatalf("own login: %v %v", r, ok)
	}
	if _, ok := u.Authenticate(own, []byte("guess")); ok {
		t.Fatal("the gateway's own user with a guessed password")
	}
	if other := New("rackwatch", "gw1", hashes, nil, nil); func() bool { _, p := other.OwnLogin(); return p == pass }() {
		t.Fatal("the gateway's own password is the same at every start")
	}
	if m := u.Missing(); len(m) != 1 || m[0] != "nobody" {
		t.Fatal(m)
	}
	if r := New("rackwatch", "gw1", hashes, []string{"alice"}, nil).Roleless(); len(r) != 1 || r[0] != "grafana" {
		t.Fatal(r)
	}
}

// The ACL of the issue: the gateway writes its own prefix; operators write commands to any gateway (not
// results); readers read; nobody writes as another gateway.
func TestAllowed(t *testing.T) {
	u := New("rackwatch", "gw1", nil, nil, nil)
	for _, c := range []struct {
		role  Role
		topic string
		write bool
		want  bool
	}{
		{Gateway, "rackwatch/gw1/alarms/smoke", true, true},
		{Gateway, "rackwatch/gw1/cmd/result", true, true},
		{Gateway, "rackwatch/gw1/cmd/ack", false, true},
		{Gateway, "rackwatch/gw2/alarms/smoke", true, false},
		{Gateway, "rackwatch/gw1/#", true, false},
		{Gateway, "rackwatch/gw2/cmd/ack", false, false},
		{Operator, "rackwatch/gw1/cmd/ack", true, true},
		{Operator, "rackwatch/gw7/cmd/shelve", true, true},
		{Operator, "rackwatch/gw7/cmd/unshelve", true, true},
		{Operator, "rackwatch/gw7/cmd/output-test", true, true},
		{Operator, "rackwatch/gw7/cmd/result", true, false},
		{Operator, "rackwatch/+/cmd/ack", true, false},
		{Operator, "rackwatch/gw1/alarms/smoke", true, false},
		{Operator, "rackwatch/gw1/status", true, false},
		{Operator, "rackwatch/#", false, true},
		{Operator, "rackwatch/+/cmd/result", false, true},
		{Operator, "#", false, false},
		{Operator, "$SYS/#", false, false},
		{Reader, "rackwatch/#", false, true},
		{Reader, "rackwatch/gw1/cmd/ack", true, false},
		{Reader, "other/#", false, false},
		{None, "rackwatch/#", false, false},
		{None, "rackwatch/gw1/cmd/ack", true, false},
	} {
		if got := u.Allowed(c.role, c.topic, c.write); got != c.want {
			t.Errorf("%s write=%v %s: %v", c.role, c.write, c.topic, got)
		}
	}
}

// With Home Assistant discovery on, the gateway writes its own discovery configs and nobody else's;
// readers (Home Assistant) and operators read them and write none; without it, nobody touches them.
func TestAllowedDiscovery(t *testing.T) {
	off := New("rackwatch", "gw1", nil, nil, nil)
	on := New("rackwatch", "gw1", nil, nil, nil)
	on.AllowDiscovery("homeassistant", "homeassistant/+/rackwatch_gw1/+/config")
	for _, c := range []struct {
		role  Role
		topic string
		write bool
		want  bool
	}{
		{Gateway, "homeassistant/sensor/rackwatch_gw1/ups1__charge/config", true, true},
		{Gateway, "homeassistant/+/rackwatch_gw1/+/config", false, true},
		{Gateway, "homeassistant/sensor/rackwatch_gw2/ups1__charge/config", true, false},
		{Gateway, "homeassistant/sensor/rackwatch_gw1/ups1__charge/config/x", true, false},
		{Gateway, "homeassistant/sensor/rackwatch_gw1//config", true, false},
		{Gateway, "homeassistant/+/rackwatch_gw1/+/config", true, false},
		{Gateway, "homeassistant/#", false, false},
		{Gateway, "homeassistant/status", true, false},
		{Reader, "homeassistant/#", false, true},
		{Reader, "homeassistant/sensor/rackwatch_gw1/ups1__charge/config", true, false},
		{Operator, "homeassistant/#", false, true},
		{Operator, "homeassistant/sensor/rackwatch_gw1/ups1__charge/config", true, false},
		{None, "homeassistant/#", false, false},
		{Gateway, "rackwatch/gw1/alarms/smoke", true, true}, // the rest unchanged
		{Reader, "rackwatch/#", false, true},
	} {
		if got := on.Allowed(c.role, c.topic, c.write); got != c.want {
			t.Errorf("discovery on: %s write=%v %s: %v", c.role, c.write, c.topic, got)
		}
		if strings.HasPrefix(c.topic, "homeassistant/") && off.Allowed(c.role, c.topic, c.write) {
			t.Errorf("discovery off: %s write=%v %s allowed", c.role, c.write, c.topic)
		}
	}
}
