package config

import (
	"strings"
	"testing"
	"time"
)

const operatorsBase = `gateway: {id: gw1}
mqtt:
  brokers:
    - {url: tcp://central:1883}
    - {url: tcp://dashboards:1883, commands: false}
  embedded_broker: 0.0.0.0:1883
  embedded_broker_auth:
    password_file: /etc/rackwatch/broker-users
    operators: [alice]
    readers: [grafana, central]
sensors:
  - {id: s1, driver: sim}
rules:
  - {id: smoke, match: {channel: smoke}, state: true, latch: true, severity: critical, shelve_max: 0}
operators:
  - {name: alice, public_key_file: /etc/rackwatch/operators/alice.pub}
  - {name: bob.smith, public_key_file: /etc/rackwatch/operators/bob.smith.pub}
operators_dir: /etc/rackwatch/operators.d
command_window: 2m
`

func TestOperatorsConfig(t *testing.T) {
	cfg, err := Parse("gw.yaml", []byte(operatorsBase))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Operators) != 2 || cfg.Operators[1].Name != "bob.smith" || cfg.Operators[0].Line != 16 || cfg.OperatorsDir != "/etc/rackwatch/operators.d" {
		t.Fatalf("%+v %q", cfg.Operators, cfg.OperatorsDir)
	}
	if cfg.OperatorsDirLine() != 18 || cfg.Window() != 2*time.Minute {
		t.Fatalf("line %d window %s", cfg.OperatorsDirLine(), cfg.Window())
	}
	if !cfg.MQTT.Brokers[0].CommandsFrom() || cfg.MQTT.Brokers[1].CommandsFrom() {
		t.Fatal("commands: default true, false when set")
	}
	if a := cfg.MQTT.EmbeddedBrokerAuth; a == nil || a.PasswordFile != "/etc/rackwatch/broker-users" || len(a.Readers) != 2 {
		t.Fatalf("%+v", a)
	}
	if w := (&Config{}).Window(); w != DefaultCommandWindow {
		t.Fatal(w)
	}

	for _, c := range []struct{ edit, want string }{
		{"  - {name: alice, public_key_file: /x.pub}\n", "gw.yaml:18: operator \"alice\" is listed twice (first on line 16)"},
		{"  - {name: \"al ice\", public_key_file: /x.pub}\n", "gw.yaml:18: operator name \"al ice\""},
		{"  - {name: carol}\n", "gw.yaml:18: operator \"carol\": public_key_file is required"},
		{"  - {name: carol, public_key_file: /c.pub, by: x}\n", "gw.yaml:18: operators[2]: unknown key \"by\""},
	} {
		src := strings.Replace(operatorsBase, "operators_dir:", c.edit+"operators_dir:", 1)
		if _, err := Parse("gw.yaml", []byte(src)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.edit, err, c.want)
		}
	}
	for _, c := range []struct{ from, to, want string }{
		{"command_window: 2m", "command_window: 2h", "gw.yaml:19: command_window 2h0m0s: use 10s to 1h0m0s"},
		{"command_window: 2m", "command_window: 1s", "gw.yaml:19: command_window 1s: use 10s"},
		{"    readers: [grafana, central]", "    readers: [grafana, alice]", "gw.yaml:8: mqtt.embedded_broker_auth: user \"alice\" is listed under operators and readers"},
		{"    readers: [grafana, central]", "    readers: [\"a:b\"]", "user \"a:b\""},
		{"    password_file: /etc/rackwatch/broker-users\n", "", "gw.yaml:8: mqtt.embedded_broker_auth: password_file is required"},
		{"  embedded_broker: 0.0.0.0:1883\n", "", "there is no embedded_broker to protect"},
		{"commands: false", "commands: maybe", "expected a boolean"},
	} {
		src := strings.Replace(operatorsBase, c.from, c.to, 1)
		if _, err := Parse("gw.yaml", []byte(src)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q → %q: %v, want %q", c.from, c.to, err, c.want)
		}
	}
}

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:1883": true, "[::1]:1883": true, "localhost:9108": true, "127.0.1.1:1": true,
		"0.0.0.0:1883": false, ":1883": false, "[::]:1883": false, "10.0.0.5:1883": false, "gw.example:1883": false, "junk": false,
	} {
		if Loopback(addr) != want {
			t.Errorf("Loopback(%q) = %v", addr, !want)
		}
	}
}
