package config

import (
	"strings"
	"testing"
	"time"
)

const actionsBase = `gateway: {id: gw}
mqtt: {embedded_broker: "127.0.0.1:0"}
buses:
  - {id: bms, type: modbus-tcp, address: 127.0.0.1:5020}
sensors:
  - {id: string1, driver: sim, scenario: steady, labels: {room: battery-room}}
  - {id: board1, driver: bridge, device: /dev/ttyACM0}
rules:
  - {id: pre-runaway, match: {sensor: string1}, above: 50, severity: critical}
  - {id: seen, match: {sensor: string1}, above: 40, internal: true}
  - {id: ups-low-battery, match: {sensor: string1}, above: 60, severity: critical}
  - {id: ups-on-battery, match: {sensor: string1}, above: 61}
`

func TestActionsBothForms(t *testing.T) {
	list := actionsBase + `outputs:
  - {id: stop-charge, type: modbus, bus: bms, table: coil, address: 4609}
  - {id: sounder, type: gpio, pin: GPIO22, role: sounder}
  - {id: beacon, type: bridge, sensor: board1, channel: beacon, role: beacon, timeout: 3s}
actions:
  - {when: {rule: pre-runaway, state: active}, do: [stop-charge, sounder], min_on: 10m}
  - {when: {severity: critical}, do: [beacon], until: ack}
`
	cfg, err := Parse("a.yaml", []byte(list))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Actions
	if a.DryRun || len(a.List) != 2 || a.List[0].Until != UntilClear || a.List[0].MinOn.D() != 10*time.Minute || a.List[1].Until != UntilAck {
		t.Errorf("list form: %+v", a)
	}
	if o := cfg.OutputByID("beacon"); o == nil || o.Timeout.D() != 3*time.Second || o.Role != RoleBeacon || cfg.OutputByID("sounder").Timeout.D() != DefaultOutputTimeout {
		t.Errorf("outputs: %+v", cfg.Outputs)
	}
	var opt struct {
		Pin string `yaml:"pin"`
	}
	if err := cfg.OutputByID("sounder").DriverOutput(cfg.File).Options.Decode(&opt); err != nil || opt.Pin != "GPIO22" {
		t.Errorf("type options: %+v %v", opt, err)
	}

	mapping := actionsBase + `outputs:
  - {id: stop-charge, type: sim}
actions:
  dry_run: true
  list:
    - {when: {rule: pre-runaway}, do: [stop-charge]}
`
	cfg, err = Parse("b.yaml", []byte(mapping))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Actions.DryRun || len(cfg.Actions.List) != 1 || cfg.Actions.List[0].When.State != "active" {
		t.Errorf("mapping form: %+v", cfg.Actions)
	}
}

func TestActionsErrorsWithLines(t *testing.T) {
	doc := actionsBase + `outputs:
  - {id: stop-charge, type: modbus, bus: nope}
  - {id: stop-charge, type: sim}
  - {id: "Bad Id", type: sim}
  - {id: x, role: siren}
  - {id: shutdown, type: sim}
  - {id: y, type: bridge, sensor: board9}
actions:
  - {when: {rule: nope}, do: [stop-charge]}
  - {when: {rule: seen}, do: [stop-charge]}
  - {when: {}, do: [ghost, x, x], until: never, min_on: 48h}
  - {when: {severity: bad, state: cleared}, do: []}
shutdown:
  when: [missing]
  on_battery: [seen]
  delay: 2h
  command: [systemctl, poweroff]
`
	_, err := Parse("c.yaml", []byte(doc))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`c.yaml:14: output "stop-charge": bus "nope" is not defined under buses`,
		`c.yaml:15: output id "stop-charge" is defined twice (first on line 14)`,
		`c.yaml:16: output id "Bad Id": use only`,
		`c.yaml:17: output "x": type is required`,
		`c.yaml:17: output "x": role "siren"`,
		`c.yaml:18: output id "shutdown" is reserved`,
		`c.yaml:19: output "y": sensor "board9" is not defined`,
		`c.yaml:21: actions: rule "nope" is not defined`,
		`c.yaml:22: actions: rule "seen" is internal`,
		`c.yaml:23: actions: when needs at least one of rule, severity or sensor`,
		`c.yaml:23: actions: output "ghost" is not defined under outputs`,
		`c.yaml:23: actions: output "x" is listed twice`,
		`c.yaml:23: actions: until "never"`,
		`c.yaml:23: actions: min_on 48h0m0s: use 0 to 24h`,
		`c.yaml:24: actions: severity "bad"`,
		`c.yaml:24: actions: state "cleared"`,
		`c.yaml:24: actions: do lists no output`,
		`c.yaml:26: shutdown.when: rule "missing" is not defined`,
		`c.yaml:26: shutdown.on_battery: rule "seen" is internal`,
		`c.yaml:26: shutdown: delay 2h0m0s: use 0 to 1h0m0s`,
		`c.yaml:26: shutdown: command "systemctl": give the program's absolute path`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in\n%v", want, err)
		}
	}
	if _, err := Parse("d.yaml", []byte(actionsBase+"actions: {dry_run: true, lists: []}\n")); err == nil || !strings.Contains(err.Error(), `d.yaml:13: actions: unknown key "lists"`) {
		t.Errorf("unknown key in the mapping form: %v", err)
	}
	if _, err := Parse("e.yaml", []byte(actionsBase+"actions: 3\n")); err == nil || !strings.Contains(err.Error(), "e.yaml:13:") {
		t.Errorf("a scalar actions: %v", err)
	}
}

func TestShutdownDefaults(t *testing.T) {
	cfg, err := Parse("s.yaml", []byte(actionsBase+`shutdown:
  when: [ups-low-battery]
  on_battery: [ups-on-battery]
  delay: 30s
  command: [/usr/bin/systemctl, poweroff]
`))
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Shutdown
	if s.Delay.D() != 30*time.Second || s.Flush.D() != DefaultShutdownFlush || s.Timeout.D() != DefaultShutdownTimeout || s.Line != 14 {
		t.Errorf("%+v", s)
	}
}
