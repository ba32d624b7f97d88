package modbus

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/configs/profiles"
)

func registry() *driver.Registry {
	r := driver.NewRegistry()
	Register(r)
	return r
}

func checkSensor(t *testing.T, dir, body string) ([]driver.ChannelInfo, error) {
	t.Helper()
	cfg, err := sensorFromYAML(t, dir, body)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	reg := registry()
	for i := range cfg.Buses {
		if err := reg.Bus(cfg.Buses[i].Type).Check(cfg.Buses[i].DriverBus(cfg.File)); err != nil {
			return nil, err
		}
	}
	return reg.Driver("modbus").Check(cfg.Sensors[0].DriverSensor(cfg.File))
}

// Every mistake in a register map is reported at its line, all at once.
func TestCheckReportsEveryMistakeWithItsLine(t *testing.T) {
	_, err := checkSensor(t, t.TempDir(), `buses:
  - {id: rs485, type: modbus-rtu, device: /dev/ttyUSB0}
sensors:
  - id: ups1
    driver: modbus
    bus: rs485
    registers:
      - {channel: a, table: holdings, address: 1}
      - {channel: b, table: holding, address: 2, type: float32, bit: 3}
      - {channel: c, table: coil, address: 3, scale: 2}
      - {channel: d, table: input}
      - {channel: e, table: input, address: 5, count: 4}
      - {channel: ok, table: input, address: 6}
      - {channel: f, table: input, address: 7, word_order: xyzw}
      - {channel: ok, table: input, address: 8}
`)
	if err == nil {
		t.Fatal("want errors")
	}
	msg := err.Error()
	// The config helper puts two lines (gateway, mqtt) before the text above.
	for _, want := range []string{
		`rackwatch.yaml:10: sensor "ups1": register "a": unknown table "holdings"`,
		`rackwatch.yaml:11: sensor "ups1": register "b": bit does not apply to float32`,
		`rackwatch.yaml:12: sensor "ups1": register "c": scale does not apply to the coil table`,
		`rackwatch.yaml:13: sensor "ups1": register "d": address is required`,
		`rackwatch.yaml:14: sensor "ups1": register "e": count 4 needs reduce`,
		`rackwatch.yaml:16: sensor "ups1": register "f": unknown word_order "xyzw"`,
		`rackwatch.yaml:17: sensor "ups1": channel "ok" is defined twice (first on line 15)`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	// An unknown key is caught by the strict decoder before any semantic check.
	if _, err := checkSensor(t, t.TempDir(), `buses:
  - {id: rs485, type: modbus-rtu, device: /dev/ttyUSB0}
sensors:
  - id: ups1
    driver: modbus
    bus: rs485
    registers:
      - {channel: f, table: input, address: 7, colour: red}
`); err == nil || !strings.Contains(err.Error(), `rackwatch.yaml:10:`) || !strings.Contains(err.Error(), `"colour"`) {
		t.Errorf("unknown key: %v", err)
	}
}

func TestCheckBusOptions(t *testing.T) {
	_, err := checkSensor(t, t.TempDir(), `buses:
  - {id: rs485, type: modbus-rtu, device: /dev/ttyUSB0, baud: 9601, parity: mark}
sensors:
  - {id: s, driver: modbus, bus: rs485, profile: ups}
`)
	if err == nil || !strings.Contains(err.Error(), "baud 9601") || !strings.Contains(err.Error(), `parity "mark"`) {
		t.Errorf("bad bus: %v", err)
	}
	bc, err := ParseBusURL("rtu:///dev/ttyUSB0?baud=9600&parity=none")
	if err != nil || bc.Address != "/dev/ttyUSB0" || bc.Baud != 9600 || bc.StopBits != 2 || bc.Timeout != DefaultRTUTimeout {
		t.Errorf("rtu url: %+v, %v (no parity means two stop bits by default)", bc, err)
	}
	bc, err = ParseBusURL("tcp://10.0.0.20")
	if err != nil || bc.Address != "10.0.0.20:502" || !bc.TCP {
		t.Errorf("tcp url without port: %+v, %v", bc, err)
	}
	if _, err := ParseBusURL("rtu:///dev/ttyUSB0?bauds=9600"); err == nil {
		t.Error("unknown url parameter accepted")
	}
}

// A sensor names a profile; a site's profiles directory next to the config shadows the built-in one,
// and profile_dir points elsewhere.
func TestProfileLookup(t *testing.T) {
	dir := t.TempDir()
	chs, err := checkSensor(t, dir, `buses:
  - {id: lan, type: modbus-tcp, address: 10.0.0.20}
sensors:
  - {id: ups1, driver: modbus, bus: lan, profile: ups}
`)
	if err != nil {
		t.Fatal(err)
	}
	if !hasChannel(chs, "on_battery") || !hasChannel(chs, "runtime") {
		t.Errorf("built-in ups profile channels: %v", chs)
	}
	os.Mkdir(filepath.Join(dir, "profiles"), 0o755)
	os.WriteFile(filepath.Join(dir, "profiles", "ups.yaml"), []byte("source: site survey 2026\nregisters:\n  - {channel: mine, table: input, address: 1}\n"), 0o644)
	os.Mkdir(filepath.Join(dir, "maps"), 0o755)
	os.WriteFile(filepath.Join(dir, "maps", "crac.yaml"), []byte("source: vendor manual\nregisters:\n  - {channel: supply_temp, table: input, address: 1, scale: 0.1}\n  - {channel: x, table: input, address: 2, typo: 1}\n"), 0o644)
	chs, err = checkSensor(t, dir, `buses:
  - {id: lan, type: modbus-tcp, address: 10.0.0.20}
sensors:
  - {id: ups1, driver: modbus, bus: lan, profile: ups, registers: [{channel: extra, table: holding, address: 9}]}
`)
	if err != nil || len(chs) != 2 || chs[0].Channel != "mine" || chs[1].Channel != "extra" {
		t.Errorf("site profile plus own registers: %v, %v", chs, err)
	}
	_, err = checkSensor(t, dir, `buses:
  - {id: lan, type: modbus-tcp, address: 10.0.0.20}
sensors:
  - {id: crac1, driver: modbus, bus: lan, profile: crac, profile_dir: maps}
`)
	if err == nil || !regexp.MustCompile(`maps/crac\.yaml:4: registers\[1\]: unknown key "typo"`).MatchString(err.Error()) {
		t.Errorf("profile with an unknown key: %v", err)
	}
	_, err = checkSensor(t, dir, `buses:
  - {id: lan, type: modbus-tcp, address: 10.0.0.20}
sensors:
  - {id: x, driver: modbus, bus: lan, profile: nosuch}
`)
	if err == nil || !strings.Contains(err.Error(), `rackwatch.yaml:6:`) || !strings.Contains(err.Error(), "known: apc-smt, bms, ups") {
		t.Errorf("unknown profile: %v", err)
	}
}

func hasChannel(chs []driver.ChannelInfo, name string) bool {
	for _, c := range chs {
		if string(c.Channel) == name {
			return true
		}
	}
	return false
}

// The scheduler cancels a read at the sensor's timeout: the remaining requests are not sent and their
// channels are bad, saying why.
func TestReadHonoursContext(t *testing.T) {
	f := newFakeUnits()
	addr, _ := startTCPServer(t, f)
	dev, err := NewDevice(newTestBus(t, BusConfig{TCP: true, Address: addr}), DeviceConfig{Unit: 1, Registers: []RegSpec{
		{Channel: "a", Table: "holding", Address: intp(0)}, {Channel: "b", Table: "input", Address: intp(0)},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out, err := dev.Read(ctx, nil)
	if err != nil || len(out) != 2 {
		t.Fatalf("Read: %v, %v", out, err)
	}
	for _, s := range out {
		if s.Err == nil || !strings.Contains(s.Err.Error(), "read cut short") {
			t.Errorf("%s: err %v, want read cut short", s.Channel, s.Err)
		}
	}
	if n := f.Count(1); n != 0 {
		t.Errorf("%d requests sent for a cancelled read", n)
	}
}

// Unit 0 is the RS-485 broadcast address: nobody answers it, so opening such a sensor fails.
func TestOpenRejectsBroadcastUnitOnRTU(t *testing.T) {
	cfg, err := sensorFromYAML(t, t.TempDir(), `buses:
  - {id: rs485, type: modbus-rtu, device: /dev/ttyUSB0}
sensors:
  - {id: s, driver: modbus, bus: rs485, unit_id: 0, registers: [{channel: v, table: holding, address: 0}]}
`)
	if err != nil {
		t.Fatal(err)
	}
	bus, _ := NewBus(BusConfig{Address: "/dev/ttyUSB0"}, nil)
	_, err = openSensor(context.Background(), driver.Env{Sensor: cfg.Sensors[0].DriverSensor(cfg.File), Bus: bus})
	if err == nil || !strings.Contains(err.Error(), "broadcast") {
		t.Errorf("unit 0 on RTU: %v", err)
	}
}

// FuzzParseProfile: any file content gives a profile or FILE:LINE errors, never a panic, and whatever
// parses can be compiled and planned.
func FuzzParseProfile(f *testing.F) {
	for _, name := range ProfileNames("") {
		data, _ := fs.ReadFile(profiles.FS, name+".yaml")
		f.Add(data)
	}
	f.Add([]byte("source: x\nregisters: [{channel: a, table: input, address: 65535, type: uint64}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseProfile("fuzz", "fuzz.yaml", data, config.ParseOptions)
		if err != nil {
			return
		}
		var points []point
		for i := range p.Registers {
			if pt, ok := compile(&p.Registers[i], func(int, string, ...any) {}); ok {
				points = append(points, pt)
			}
		}
		_, _ = plan(points, max(1, min(p.MaxRegisters, maxReadRegisters)), p.Gap)
	})
}
