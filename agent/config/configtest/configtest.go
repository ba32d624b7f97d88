// Package configtest builds the driver-facing views of a config from YAML snippets, for the drivers' tests:
// a driver is then tested with its options decoded exactly as `rackwatch check` decodes them, with file
// and line numbers.
package configtest

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/driver"
)

// head is the minimal rest of a config around the sensors and buses under test.
const head = "gateway: {id: test}\nmqtt: {embedded_broker: \"127.0.0.1:0\"}\n"

// Parse loads a config from text (with gateway and mqtt added when missing), failing the test on errors.
func Parse(t testing.TB, text string) *config.Config {
	t.Helper()
	cfg, err := Load(text)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Load is Parse that returns the error instead, for tests of bad options. The file is named test.yaml.
func Load(text string) (*config.Config, error) {
	return config.Parse("test.yaml", []byte(head+text))
}

var busRef = regexp.MustCompile(`\bbus: *([a-z0-9._-]+)`)

// Sensor parses one sensor written as a YAML flow mapping or block ("{id: s1, driver: bme280, bus: i2c1,
// …}") and returns it as its driver sees it. A bus it names is declared for it (its type is the driver's
// business, checked by agent.Check, not here). The sensor is on line 4 of test.yaml, or 5 with a bus.
func Sensor(t testing.TB, sensorYAML string) *driver.Sensor {
	t.Helper()
	doc := "sensors:\n  - " + sensorYAML + "\n"
	if m := busRef.FindStringSubmatch(sensorYAML); m != nil {
		doc = "buses: [{id: " + m[1] + ", type: test}]\n" + doc
	}
	cfg := Parse(t, doc)
	if len(cfg.Sensors) != 1 {
		t.Fatalf("configtest: %d sensors in %q", len(cfg.Sensors), sensorYAML)
	}
	return cfg.Sensors[0].DriverSensor(cfg.File)
}

// Sensors returns every sensor of a parsed config as the drivers see them.
func Sensors(cfg *config.Config) []*driver.Sensor {
	out := make([]*driver.Sensor, len(cfg.Sensors))
	for i := range cfg.Sensors {
		out[i] = cfg.Sensors[i].DriverSensor(cfg.File)
	}
	return out
}

// Bus returns the bus with the given id of a parsed config as its bus type sees it.
func Bus(t testing.TB, cfg *config.Config, id string) *driver.Bus {
	t.Helper()
	b := cfg.BusByID(id)
	if b == nil {
		t.Fatal(fmt.Sprintf("configtest: no bus %q", id))
	}
	return b.DriverBus(cfg.File)
}

var sensorRef = regexp.MustCompile(`\bsensor: *([a-z0-9._-]+)`)

// Output parses one output written as a YAML flow mapping ("{id: sounder, type: gpio, pin: GPIO22}") and
// returns it as its output type sees it, with the bus it names (or nil). A bus or sensor it names is
// declared for it. The output is on the last line of test.yaml.
func Output(t testing.TB, outputYAML string) (*driver.Output, *driver.Bus) {
	t.Helper()
	o, b, err := LoadOutput(outputYAML)
	if err != nil {
		t.Fatal(err)
	}
	return o, b
}

// LoadOutput is Output that returns the error instead.
func LoadOutput(outputYAML string) (*driver.Output, *driver.Bus, error) {
	doc := "outputs:\n  - " + outputYAML + "\n"
	if m := sensorRef.FindStringSubmatch(outputYAML); m != nil {
		doc = "sensors: [{id: " + m[1] + ", driver: test}]\n" + doc
	}
	if m := busRef.FindStringSubmatch(outputYAML); m != nil {
		doc = "buses: [{id: " + m[1] + ", type: test}]\n" + doc
	}
	cfg, err := Load(doc)
	if err != nil {
		return nil, nil, err
	}
	o := &cfg.Outputs[0]
	var bus *driver.Bus
	if b := cfg.BusByID(o.Bus); b != nil {
		bus = b.DriverBus(cfg.File)
	}
	return o.DriverOutput(cfg.File), bus, nil
}
