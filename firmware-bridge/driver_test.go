package fwbridge

import (
	"strings"
	"testing"

	"github.com/rackwatch/rackwatch/agent"
	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/driver"
)

func checkYAML(t *testing.T, sensors string) (*agent.Plan, error) {
	t.Helper()
	doc := "gateway: {id: gw}\nmqtt: {embedded_broker: 127.0.0.1:1883}\nsensors:\n" + sensors
	cfg, err := config.Parse("test.yaml", []byte(doc))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	reg := driver.NewRegistry()
	Register(reg)
	return agent.Check(cfg, reg)
}

func TestCheckLearnsChannelsAtRunTime(t *testing.T) {
	p, err := checkYAML(t, "  - {id: board1, driver: bridge, device: /dev/ttyACM0}\n")
	if err != nil {
		t.Fatal(err)
	}
	if chs, ok := p.Channels["board1"]; !ok || chs != nil {
		t.Fatalf("channels %v, want nil (learned at run time)", chs)
	}
}

func TestCheckDeclaredChannels(t *testing.T) {
	p, err := checkYAML(t, `  - id: board1
    driver: bridge
    device: /dev/serial/by-id/usb-rackwatch-board1
    channels: [temperature, smoke, sounder]
    failsafe: [{input: smoke, above: 0.5, output: sounder}]
`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range p.Channels["board1"] {
		got = append(got, string(c.Channel)+"="+c.Unit)
	}
	if want := "temperature=°C smoke= sounder= link= failsafe="; strings.Join(got, " ") != want {
		t.Errorf("channels %q, want %q", strings.Join(got, " "), want)
	}
}

func TestCheckErrorsHaveLines(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"  - {id: b, driver: bridge}\n", "test.yaml:4: sensor \"b\": device is required"},
		{"  - {id: b, driver: bridge, device: ttyACM0}\n", "must be an absolute path"},
		{"  - id: b\n    driver: bridge\n    device: /dev/ttyACM0\n    baud: 12345\n", "test.yaml:7: sensor \"b\": baud 12345"},
		{"  - id: b\n    driver: bridge\n    device: /dev/ttyACM0\n    heartbeat: 10ms\n", "test.yaml:7: sensor \"b\": heartbeat 10ms"},
		{"  - id: b\n    driver: bridge\n    device: /dev/ttyACM0\n    heartbeat: 5s\n    stale_after: 5s\n", "test.yaml:8: sensor \"b\": stale_after 5s must be longer"},
		{"  - id: b\n    driver: bridge\n    device: /dev/ttyACM0\n    channels: [Temp]\n", "channel \"Temp\""},
		{"  - id: b\n    driver: bridge\n    device: /dev/ttyACM0\n    channels: [link]\n", "added by the driver"},
		{"  - id: b\n    driver: bridge\n    device: /dev/ttyACM0\n    every: 50ms\n", "test.yaml:4: sensor \"b\": every 50ms"},
		{"  - id: b\n    driver: bridge\n    device: /dev/ttyACM0\n    colour: red\n", "test.yaml:7: unknown key \"colour\""},
		{"  - id: b\n    driver: bridge\n    device: /dev/ttyACM0\n    failsafe:\n      - {input: smoke, output: sounder}\n", "test.yaml:8: sensor \"b\": failsafe: give exactly one of above or below"},
		{"  - id: b\n    driver: bridge\n    device: /dev/ttyACM0\n    channels: [smoke]\n    failsafe:\n      - {input: smoke, above: 1, output: horn}\n", "channel \"horn\" is not in channels"},
	} {
		_, err := checkYAML(t, tc.yaml)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
