package thermal

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/driver"
)

func fakeZone(t *testing.T, root string, n int, typ, temp string) {
	t.Helper()
	d := filepath.Join(root, "class", "thermal", "thermal_zone"+string(rune('0'+n)))
	os.MkdirAll(d, 0o755)
	os.WriteFile(filepath.Join(d, "type"), []byte(typ+"\n"), 0o644)
	os.WriteFile(filepath.Join(d, "temp"), []byte(temp), 0o644)
}

func openZone(t *testing.T, yaml string) (driver.Poller, error) {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte("gateway: {id: gw}\nmqtt: {embedded_broker: '127.0.0.1:0'}\nsensors:\n  - "+yaml+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := driver.NewRegistry()
	Register(r)
	d := r.Driver("thermal")
	if _, err := d.Check(cfg.Sensors[0].DriverSensor(cfg.File)); err != nil {
		return nil, err
	}
	dev, err := d.Open(context.Background(), driver.Env{Sensor: cfg.Sensors[0].DriverSensor(cfg.File)})
	if err != nil {
		return nil, err
	}
	return dev.(driver.Poller), nil
}

func TestPicksCPUZoneByDefault(t *testing.T) {
	root := t.TempDir()
	fakeZone(t, root, 0, "acpitz", "27800\n")
	fakeZone(t, root, 1, "x86_pkg_temp", "61500\n")
	p, err := openZone(t, "{id: gw.cpu, driver: thermal, sysfs: "+root+"}")
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Read(context.Background(), nil)
	if err != nil || len(out) != 1 || out[0].Value != 61.5 {
		t.Fatalf("got %v, %v; want 61.5", out, err)
	}
}

func TestZoneByTypeAndErrors(t *testing.T) {
	root := t.TempDir()
	fakeZone(t, root, 0, "cpu-thermal", "48312\n")
	fakeZone(t, root, 1, "board", "-1\n")
	p, err := openZone(t, "{id: gw.board, driver: thermal, zone: board, sysfs: "+root+"}")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := p.Read(context.Background(), nil); err != nil || out[0].Value != -0.001 {
		t.Errorf("got %v, %v", out, err)
	}
	os.WriteFile(filepath.Join(root, "class/thermal/thermal_zone1/temp"), []byte("garbage"), 0o644)
	if _, err := p.Read(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "gw.board") {
		t.Errorf("garbage: %v", err)
	}
	if _, err := openZone(t, "{id: x, driver: thermal, zone: gpu, sysfs: "+root+"}"); err == nil || !strings.Contains(err.Error(), "cpu-thermal") {
		t.Errorf("unknown zone should list the zones: %v", err)
	}
	if _, err := openZone(t, "{id: x, driver: thermal, zone: ../x}"); err == nil {
		t.Error("path accepted as zone")
	}
}

func TestParseTemp(t *testing.T) {
	for in, want := range map[string]float64{"48312\n": 48.312, "0": 0, "-5000\n": -5} {
		if v, err := ParseTemp([]byte(in)); err != nil || v != want {
			t.Errorf("%q: %v, %v", in, v, err)
		}
	}
	for _, in := range []string{"", "abc", "48.3", "-274000", "999999999"} {
		if _, err := ParseTemp([]byte(in)); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func FuzzParseTemp(f *testing.F) {
	for _, s := range []string{"48312\n", "-5000", "", "abc", "99999999999999999999"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseTemp(b)
		if err == nil && (v < -273.15 || v > 200) {
			t.Errorf("%q gave %v", b, v)
		}
	})
}
