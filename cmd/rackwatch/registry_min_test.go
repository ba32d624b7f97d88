//go:build nosnmp && nonut && nomegatec && nobridge && nobroker && nohttp && nopager && nosim

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rackwatch/rackwatch/agent"
)

// The minimal build (make release-min) runs the gateways it is for: the example configs for on-board
// sensors and Modbus pass its check.
func TestMinimalBuildChecksItsConfigs(t *testing.T) {
	reg := registry()
	for _, f := range []string{"../../configs/pi-sensors.yaml", "../../configs/modbus.yaml"} {
		if _, err := agent.LoadAndCheck(f, reg); err != nil {
			t.Errorf("%v", err)
		}
	}
}

// A config that uses a part the minimal build leaves out fails its check at the line that uses it,
// saying what is missing and which build tag left it out, rather than "unknown driver" or a failure
// at start.
func TestMinimalBuildRefusesWhatItLeavesOut(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "rackwatch.yaml")
	os.WriteFile(cfg, []byte(`gateway:
  id: gw
  state_dir: `+filepath.Join(dir, "state")+`
  http: 127.0.0.1:9108
mqtt:
  brokers: [{url: tcp://127.0.0.1:1883}]
  embedded_broker: 127.0.0.1:1883
sensors:
  - {id: ups1, driver: snmp, address: 10.0.0.9}
  - {id: ups2, driver: nut, address: 127.0.0.1:3493, ups: myups}
  - {id: ups3, driver: megatec, device: /dev/ttyUSB0}
  - {id: board, driver: bridge, device: /dev/ttyACM0}
  - {id: demo, driver: sim, scenario: battery-runaway}
rules:
  - {id: hot, match: {channel: temperature}, above: 40, severity: warning}
outputs:
  - {id: fan, type: sim, what: extract fan}
`), 0o600)
	_, err := agent.LoadAndCheck(cfg, registry())
	if err == nil {
		t.Fatal("the minimal build accepted a config using SNMP, NUT, Megatec, the bridge, sim, the embedded broker and HTTP")
	}
	for _, want := range []string{
		cfg + ":2: gateway.http: this rackwatch was built without the HTTP endpoints (build tag nohttp)",
		cfg + ":6: mqtt.embedded_broker: this rackwatch was built without the embedded broker (build tag nobroker)",
		cfg + `:9: driver "snmp": this rackwatch was built without SNMP (build tag nosnmp)`,
		cfg + `:10: driver "nut": this rackwatch was built without NUT (upsd) (build tag nonut)`,
		cfg + `:11: driver "megatec": this rackwatch was built without Megatec/Q1 serial UPS (build tag nomegatec)`,
		cfg + `:12: driver "bridge": this rackwatch was built without the firmware bridge (build tag nobridge)`,
		cfg + `:13: driver "sim": this rackwatch was built without the simulated sensors (build tag nosim)`,
		cfg + `:17: output type "sim": this rackwatch was built without the simulated sensors (build tag nosim)`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("check does not say\n  %s\nit says:\n%v", want, err)
		}
	}
}

// `rackwatch version` says what the build leaves out, and the commands it leaves out are gone.
func TestMinimalBuildVersion(t *testing.T) {
	out, rc := captureStdout(t, func() int { return cmdVersion(nil) })
	if rc != 0 {
		t.Fatalf("version: exit %d", rc)
	}
	for _, want := range []string{"SNMP", "NUT (upsd)", "Megatec/Q1 serial UPS", "the firmware bridge",
		"the simulated sensors", "the embedded broker", "the HTTP endpoints", "the pager"} {
		if !strings.Contains(out, want) {
			t.Errorf("version does not name %q as left out:\n%s", want, out)
		}
	}
	for _, gone := range []string{"demo", "sim", "pager"} {
		if _, ok := commands[gone]; ok {
			t.Errorf("the minimal build still has the %q command", gone)
		}
	}
}
