package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/rules"
	"github.com/rackwatch/rackwatch/agent/settings"
)

const good = `gateway:
  id: dc1-hall3-row4
  site: dc1
  state_dir: /var/lib/rackwatch
  http: 127.0.0.1:9108
mqtt:
  topic_prefix: rackwatch
  brokers:
    - url: tls://mqtt.site-a.example:8883
      ca_file: /etc/rackwatch/ca.pem
      cert_file: /etc/rackwatch/gw.pem
      key_file: /etc/rackwatch/gw.key
      username: gw1
      password_file: /etc/rackwatch/mqtt.pass
    - url: tcp://mqtt.site-b.example:1883
  readings: {every: 10s, deadband: 0.2, qos: 0}
  embedded_broker: 127.0.0.1:1883
buses:
  - {id: i2c1, type: i2c, device: /dev/i2c-1}
  - {id: rs485, type: modbus-rtu, device: /dev/ttyUSB0, baud: 9600, parity: even, stop_bits: 1, timeout: 500ms}
sensors:
  - {id: r12.inlet, driver: bme280, bus: i2c1, address: 0x76, every: 2s, labels: {room: hall3, rack: r12}}
  - {id: batt-room.smoke, driver: gpio-input, pin: GPIO17, active: low, channel: smoke}
  - id: ups1
    driver: modbus
    bus: rs485
    unit_id: 1
    every: 1s
    registers:
      - {channel: battery_temp, table: input, address: 30, type: int16, scale: 0.1, unit: "°C"}
rules:
  - {id: inlet-warm, match: {sensor: "r*.inlet", channel: temperature}, above: 27, clear: 26, for: 30s, severity: warning}
  - {id: batt-heating, match: {sensor: ups1, channel: battery_temp}, rate_above: 2, per: 1m, window: 2m, severity: critical}
  - {id: smoke, match: {channel: smoke}, above: 0.5, latch: true, severity: critical}
  - {id: sensor-silent, match: {sensor: "*"}, stale: 30s, severity: warning}
  - {id: fire-suspected, all: [smoke, batt-heating], severity: critical}
`

func TestLoadDesignExample(t *testing.T) {
	cfg, err := Parse("good.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Gateway.ID != "dc1-hall3-row4" || len(cfg.MQTT.Brokers) != 2 || cfg.MQTT.Readings.Every.D() != 10*time.Second {
		t.Errorf("decoded wrong: %+v", cfg)
	}
	s := cfg.Sensor("r12.inlet")
	if s.Every.D() != 2*time.Second || s.Labels["rack"] != "r12" || s.Line != 22 {
		t.Errorf("sensor: %+v", s)
	}
	var opt struct {
		Address uint16 `yaml:"address"`
	}
	if err := s.Options.Decode(&opt); err != nil || opt.Address != 0x76 {
		t.Errorf("driver options: %v %v", opt, err)
	}
	if d := cfg.Sensor("batt-room.smoke"); d.Every.D() != DefaultEvery || d.Timeout.D() != DefaultEvery {
		t.Errorf("defaults not applied: every %v timeout %v", d.Every, d.Timeout)
	}
	if k := cfg.Rules[1].Kind(); k != rules.KindRate {
		t.Errorf("rule kind %q", k)
	}
	if cfg.Journal.MaxSize != DefaultJournalSize {
		t.Errorf("journal default %d", cfg.Journal.MaxSize)
	}
}

// Each bad file must be rejected with exactly the listed errors, each naming its line.
func TestBadConfigs(t *testing.T) {
	base := "gateway: {id: gw}\nmqtt: {embedded_broker: 127.0.0.1:1883}\n"
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"syntax", "gateway:\n  id: gw\n   site: x\n", []string{"f.yaml:3: mapping values are not allowed in this context"}},
		{"unknown top key", base + "sensor:\n  - {id: a}\n", []string{"f.yaml:3: unknown key \"sensor\""}},
		{"unknown gateway key", "gateway:\n  id: gw\n  name: x\nmqtt: {embedded_broker: 127.0.0.1:1883}\n", []string{"f.yaml:3: gateway: unknown key \"name\""}},
		{"wrong type", "gateway: {id: gw}\nmqtt:\n  embedded_broker: 127.0.0.1:1883\n  readings: {deadband: lots}\n", []string{"f.yaml:4: mqtt.readings.deadband: expected a number, got \"lots\""}},
		{"duration without unit", base + "sensors:\n  - {id: a, driver: sim, every: 2}\n", []string{"f.yaml:4: sensors[0].every: \"2\" has no unit; write e.g. 2s or 2ms"}},
		{"duplicate key", "gateway:\n  id: gw\n  id: gw2\nmqtt: {embedded_broker: 127.0.0.1:1883}\n", []string{"f.yaml:3: gateway: duplicate key \"id\" (first on line 2)"}},
		{"missing gateway id", "gateway: {site: x}\nmqtt: {embedded_broker: 127.0.0.1:1883}\n", []string{"f.yaml:1: gateway.id is required"}},
		{"bad id", "gateway: {id: GW/1}\nmqtt: {embedded_broker: 127.0.0.1:1883}\n", []string{"f.yaml:1: gateway.id \"GW/1\""}},
		{"no destination", "gateway: {id: gw}\nmqtt: {topic_prefix: x}\n", []string{"f.yaml:2: mqtt: no brokers and no embedded_broker"}},
		{"duplicate sensor", base + "sensors:\n  - {id: a, driver: sim}\n  - {id: a, driver: sim}\n", []string{"f.yaml:5: sensor id \"a\" is defined twice (first on line 4)"}},
		{"undefined bus", base + "sensors:\n  - {id: a, driver: bme280, bus: i2c9}\n", []string{"f.yaml:4: sensor \"a\": bus \"i2c9\" is not defined under buses"}},
		{"duplicate bus", base + "buses:\n  - {id: b, type: i2c}\n  - {id: b, type: i2c}\n", []string{"f.yaml:5: bus id \"b\" is defined twice"}},
		{"inline password", "gateway: {id: gw}\nmqtt:\n  brokers:\n    - {url: tcp://h:1883, password: hunter2}\n", []string{"f.yaml:4: mqtt.brokers: password is not written in the config"}},
		{"bad url", "gateway: {id: gw}\nmqtt:\n  brokers:\n    - {url: http://h:1883}\n", []string{"f.yaml:4: mqtt.brokers: url \"http://h:1883\""}},
		{"tls files on tcp", "gateway: {id: gw}\nmqtt:\n  brokers:\n    - {url: tcp://h:1883, ca_file: /ca.pem}\n", []string{"f.yaml:4: mqtt.brokers: \"tcp://h:1883\" is not a TLS url"}},
		{"rule two kinds", base + "rules:\n  - {id: r, match: {channel: x}, above: 1, stale: 5s}\n", []string{"f.yaml:4: rule \"r\": give exactly one of"}},
		{"rule bad severity", base + "rules:\n  - {id: r, match: {channel: x}, above: 1, severity: urgent}\n", []string{"f.yaml:4: rule \"r\": severity \"urgent\""}},
		{"clear on wrong side", base + "rules:\n  - {id: r, match: {channel: x}, above: 27, clear: 28}\n", []string{"f.yaml:4: rule \"r\": clear 28 must not be above the threshold 27"}},
		{"composite unknown ref", base + "rules:\n  - {id: r, all: [a, b]}\n", []string{"f.yaml:4: rule \"r\": refers to rule \"a\"", "f.yaml:4: rule \"r\": refers to rule \"b\""}},
		{"composite loop", base + "rules:\n  - {id: a, any: [b]}\n  - {id: b, any: [a]}\n", []string{"f.yaml:4: rule \"a\": composite rules refer to each other in a loop"}},
		{"missing match", base + "rules:\n  - {id: r, above: 1}\n", []string{"f.yaml:4: rule \"r\": match is required"}},
		{"timeout above every", base + "sensors:\n  - {id: a, driver: sim, every: 1s, timeout: 2s}\n", []string{"f.yaml:4: sensor \"a\": timeout 2s is longer than every 1s"}},
		{"several errors at once", base + "sensors:\n  - {id: A, driver: sim}\n  - {id: b}\n", []string{"f.yaml:4: sensor id \"A\"", "f.yaml:5: sensor \"b\": driver is required"}},
		{"empty", "", []string{"f.yaml: the file is empty"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(c.yaml))
			var es settings.Errors
			if !errors.As(err, &es) {
				t.Fatalf("want Errors, got %v", err)
			}
			if len(es) != len(c.want) {
				t.Fatalf("want %d errors, got %d:\n%v", len(c.want), len(es), err)
			}
			for i, w := range c.want {
				if !strings.HasPrefix(es[i].Error(), w) {
					t.Errorf("error %d:\n got %s\nwant %s…", i, es[i], w)
				}
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.Contains(err.Error(), "nope.yaml: cannot read config: no such file or directory") {
		t.Errorf("got %v", err)
	}
}

func TestOptionsDecodeLinesAndDefaults(t *testing.T) {
	cfg, err := Parse("f.yaml", []byte("gateway: {id: gw}\nmqtt: {embedded_broker: 127.0.0.1:1883}\nsensors:\n  - id: a\n    driver: x\n    baud: fast\n    colour: red\n"))
	if err != nil {
		t.Fatal(err)
	}
	opt := struct {
		Baud   int    `yaml:"baud"`
		Parity string `yaml:"parity"`
	}{Baud: 9600, Parity: "even"}
	err = cfg.Sensors[0].Options.Decode(&opt)
	want := "f.yaml:6: baud: expected a whole number, got \"fast\"\nf.yaml:7: unknown key \"colour\" (known keys: baud, parity)"
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
	if opt.Parity != "even" {
		t.Error("default lost")
	}
	if e := settings.Errorf(cfg.Sensors[0].Options, "baud", "too slow"); e.Error() != "f.yaml:6: too slow" {
		t.Errorf("Errorf: %v", e)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("gateway: {id: gw}\nmqtt: {embedded_broker: 127.0.0.1:1883}\nsensors:\n  - {id: a, driver: sim, every: 2}\n"))
	f.Add([]byte("a: &x {b: 1}\nc: *x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("f.yaml", data)
		if err == nil && cfg == nil {
			t.Fatal("no config and no error")
		}
		var es settings.Errors
		if err != nil && !errors.As(err, &es) {
			t.Fatalf("error is not Errors: %v", err)
		}
		for _, e := range es {
			if e.File != "f.yaml" {
				t.Fatalf("error without the file: %v", e)
			}
		}
	})
}

func TestExampleDesignFileOnDisk(t *testing.T) {
	p := filepath.Join(t.TempDir(), "rackwatch.yaml")
	os.WriteFile(p, []byte(good), 0o644)
	if _, err := Load(p); err != nil {
		t.Fatal(err)
	}
}
