package ds18b20

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/config/configtest"

	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/onewire"
	"periph.io/x/conn/v3/onewire/onewiretest"

	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/driver"
)

func sensorNoBus(t *testing.T, yaml string) *driver.Sensor {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte("gateway: {id: gw}\nmqtt: {embedded_broker: '127.0.0.1:0'}\nsensors:\n  - "+yaml+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Sensors[0].DriverSensor(cfg.File)
}

const rom = "28-0316a2795aff"

func writeSlave(t *testing.T, root, text string) {
	t.Helper()
	dir := filepath.Join(root, "bus", "w1", "devices", rom)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "w1_slave"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestW1SysfsProbeUnplugAndReplug(t *testing.T) {
	root := t.TempDir()
	s := sensorNoBus(t, "{id: r12.probe1, driver: ds18b20, rom: "+rom+", sysfs: "+root+"}")
	if _, err := check(s); err != nil {
		t.Fatal(err)
	}
	dev, err := open(context.Background(), driver.Env{Sensor: s})
	if err != nil {
		t.Fatal(err)
	}
	p := dev.(driver.Poller)
	ctx := context.Background()

	writeSlave(t, root, w1Samples[0].text)
	out, err := p.Read(ctx, nil)
	if err != nil || len(out) != 1 || out[0].Value != 23.125 || out[0].Channel != "temperature" {
		t.Fatalf("got %v, %v", out, err)
	}

	// Unplugged: the kernel first returns garbage, then removes the slave directory.
	writeSlave(t, root, w1Samples[3].text)
	if _, err := p.Read(ctx, nil); !errors.Is(err, ErrNoResponse) || !strings.Contains(err.Error(), "r12.probe1") {
		t.Errorf("zeros: %v", err)
	}
	os.RemoveAll(filepath.Join(root, "bus", "w1", "devices", rom))
	if _, err := p.Read(ctx, nil); err == nil || !strings.Contains(err.Error(), "not on the 1-Wire bus") {
		t.Errorf("removed: %v", err)
	}

	writeSlave(t, root, w1Samples[1].text)
	if out, err := p.Read(ctx, nil); err != nil || out[0].Value != -10.125 {
		t.Errorf("replugged: %v, %v", out, err)
	}
	writeSlave(t, root, w1Samples[5].text) // flipped bit
	p.Read(ctx, nil)
	if c := dev.(driver.Counters).Counters(); c["crc_error"] != 1 || c["bus_error"] != 2 {
		t.Errorf("counters %v, want crc_error 1, bus_error 2", c)
	}
}

// A w1_slave read blocks in the kernel for the conversion; a FIFO reproduces that.
func TestW1SlowKernelReadHonoursContext(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "bus", "w1", "devices", rom)
	os.MkdirAll(dir, 0o755)
	fifo := filepath.Join(dir, "w1_slave")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("mkfifo:", err)
	}
	s := sensorNoBus(t, "{id: p, driver: ds18b20, rom: "+rom+", sysfs: "+root+"}")
	dev, err := open(context.Background(), driver.Env{Sensor: s})
	if err != nil {
		t.Fatal(err)
	}
	p := dev.(driver.Poller)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := p.Read(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want deadline exceeded", err)
	}
	// The kernel finishes: the next read picks up that result rather than starting a second read.
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.WriteString(w1Samples[0].text)
	w.Close()
	out, err := p.Read(context.Background(), nil)
	if err != nil || out[0].Value != 23.125 {
		t.Errorf("got %v, %v", out, err)
	}
}

func TestCheckOptions(t *testing.T) {
	for yaml, want := range map[string]string{
		"{id: a, driver: ds18b20}":                                                 "rom is required",
		"{id: a, driver: ds18b20, rom: 3b-0316a2795aff}":                           "family 0x3b",
		"{id: a, driver: ds18b20, rom: 28-0316a2795aff, address: 0x18}":            "add bus",
		"{id: a, driver: ds18b20, rom: 28-0316a2795aff, resolution: 12}":           "unknown key",
		"{id: a, driver: ds18b20, rom: 28-xyz}":                                    "not a 1-Wire id",
		"{id: a, driver: ds18b20, bus: i2c1, rom: 28-0316a2795aff, address: 0x20}": "not 0x20",
	} {
		var s *driver.Sensor
		if strings.Contains(yaml, "bus:") {
			s = configtest.Sensor(t, yaml)
		} else {
			s = sensorNoBus(t, yaml)
		}
		if _, err := check(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", yaml, err, want)
		}
	}
}

func romBytes(t *testing.T) []byte {
	a, err := ParseROM(rom)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 8)
	for i := range b {
		b[i] = byte(a >> (8 * i))
	}
	return b
}

func spad(t *testing.T, raw int16, cfg byte) []byte {
	sp := []byte{byte(raw), byte(uint16(raw) >> 8), 0x4b, 0x46, cfg, 0xff, 0x0c, 0x10, 0}
	sp[8] = onewire.CalcCRC(sp[:8])
	return sp
}

func cmd(t *testing.T, c byte) []byte { return append(append([]byte{0x55}, romBytes(t)...), c) }

// The DS18B20 protocol over a 1-Wire bus (as the DS248x provides it): match ROM, convert with a strong
// pull-up, read the scratchpad.
func TestBridgeProbeProtocol(t *testing.T) {
	ops := []onewiretest.IO{
		{W: cmd(t, 0xBE), R: spad(t, 0x0190, 0x1f), Pull: onewire.WeakPullup}, // 9-bit resolution
		{W: cmd(t, 0x44), Pull: onewire.StrongPullup},
		{W: cmd(t, 0xBE), R: spad(t, 0x0190, 0x1f), Pull: onewire.WeakPullup},
		{W: cmd(t, 0x44), Pull: onewire.StrongPullup},
		{W: cmd(t, 0xBE), R: spad(t, 0x0550, 0x1f), Pull: onewire.WeakPullup}, // conversion did not run
	}
	ow := &onewiretest.Playback{Ops: ops, DontPanic: true}
	a, _ := ParseROM(rom)
	p := &bridgeProbe{where: "test", rom: a}
	if err := p.initProbe(context.Background(), ow); err != nil {
		t.Fatal(err)
	}
	if p.convert != 94*time.Millisecond {
		t.Errorf("conversion wait %v for 9 bits, want 94ms", p.convert)
	}
	v, err := p.measure(context.Background())
	if err != nil || v != 25 {
		t.Errorf("got %v, %v; want 25", v, err)
	}
	if _, err := p.measure(context.Background()); !errors.Is(err, ErrNoConversion) {
		t.Errorf("power-on value: %v", err)
	}
	if err := ow.Close(); err != nil {
		t.Error(err)
	}
}

// periph's ds248x only accepts 0x18-0x19/0x20-0x21; a DS2482-100 strapped to 0x1A must still work.
func TestBridgeAtStrappedAddress(t *testing.T) {
	pb := &i2ctest.Playback{DontPanic: true, Ops: []i2ctest.IO{
		{Addr: 0x1A, W: []byte{0xF0}},                        // device reset
		{Addr: 0x1A, W: []byte{0xE1, 0xF0}, R: []byte{0x18}}, // status after reset: RST set
		{Addr: 0x1A, W: []byte{0xD2, 0xE1}, R: []byte{0x01}}, // write config, read back low nibble
	}}
	s := configtest.Sensor(t, "{id: a, driver: ds18b20, bus: i2c1, rom: "+rom+", address: 0x1a}")
	if _, err := check(s); err != nil {
		t.Fatal(err)
	}
	// Only the bridge handshake is replayed; the probe read that follows fails and names the sensor.
	_, err := open(context.Background(), driver.Env{Sensor: s, Bus: pb})
	if err == nil || !strings.Contains(err.Error(), "bus i2c1 at 0x1a") || !strings.Contains(err.Error(), rom) {
		t.Errorf("got %v", err)
	}
	if pb.Count < 3 {
		t.Errorf("bridge handshake at 0x1a not performed: %d ops", pb.Count)
	}
}

func TestTimeoutShorterThanConversionRejected(t *testing.T) {
	s := sensorNoBus(t, "{id: p, driver: ds18b20, rom: "+rom+", every: 500ms}")
	if _, err := check(s); err == nil || !strings.Contains(err.Error(), "750 ms") {
		t.Errorf("got %v", err)
	}
}
