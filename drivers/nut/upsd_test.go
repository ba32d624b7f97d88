package nut

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/internal/peer"

	"github.com/rackwatch/rackwatch/agent/reading"
)

const nutDir = "/lib/nut" // where Debian's nut-server puts dummy-ups and the real upsd binary

// requireNUT skips (or, in CI, fails) when Debian's nut-server is not installed.
func requireNUT(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"dummy-ups", "upsd"} {
		peer.Binary(t, "nut-server", filepath.Join(nutDir, bin))
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startNUT runs dummy-ups and upsd from the Debian package as children, sandboxed in a temp dir, and
// returns upsd's address and the path of the dummy UPS's .dev file.
func startNUT(t *testing.T, dev string) (addr, devFile string) {
	t.Helper()
	return startNUTUsers(t, dev, "[mon]\n\tpassword = secret\n\tupsmon secondary\n")
}

// startNUTUsers is startNUT with the given upsd.users.
func startNUTUsers(t *testing.T, dev, users string) (addr, devFile string) {
	t.Helper()
	dir := t.TempDir()
	etc, run := filepath.Join(dir, "etc"), filepath.Join(dir, "run")
	for _, d := range []string{etc, run} {
		if err := os.MkdirAll(d, 0o770); err != nil {
			t.Fatal(err)
		}
	}
	port := freePort(t)
	devFile = filepath.Join(etc, "dummy.dev")
	files := map[string]string{
		"ups.conf":   "maxretry = 3\n[dummy]\n\tdriver = dummy-ups\n\tport = dummy.dev\n\tpollinterval = 1\n\tdesc = \"test UPS\"\n",
		"upsd.conf":  fmt.Sprintf("LISTEN 127.0.0.1 %d\nMAXAGE 15\n", port),
		"upsd.users": users,
		"dummy.dev":  dev,
		"nut.conf":   "MODE=standalone\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(etc, name), []byte(body), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	var user []string
	if os.Geteuid() == 0 {
		user = []string{"-u", "root"} // otherwise the programs drop to the "nut" user, who cannot read the temp dir
	}
	env := append(os.Environ(), "NUT_CONFPATH="+etc, "NUT_STATEPATH="+run, "NUT_ALTPIDPATH="+run, "NUT_PIDPATH="+run)
	start := func(args ...string) {
		cmd := exec.Command(args[0], append(args[1:], user...)...)
		cmd.Env = env
		out := &strings.Builder{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			if t.Failed() {
				t.Logf("%s output:\n%s", filepath.Base(args[0]), out)
			}
		})
	}
	start(filepath.Join(nutDir, "dummy-ups"), "-a", "dummy", "-F")
	start(filepath.Join(nutDir, "upsd"), "-F")
	return fmt.Sprintf("127.0.0.1:%d", port), devFile
}

// waitFor polls until cond holds for a good read, failing after a generous deadline.
func waitFor(t *testing.T, d *Device, what string, cond func(map[reading.Channel]float64) bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		out, err := d.Read(ctx, nil)
		cancel()
		if err != nil {
			last = err.Error()
		} else {
			vals := map[reading.Channel]float64{}
			var errs []string
			for _, s := range out {
				if s.Err == nil {
					vals[s.Channel] = s.Value
				} else {
					errs = append(errs, fmt.Sprintf("%s: %v", s.Channel, s.Err))
				}
			}
			if cond(vals) {
				return
			}
			last = fmt.Sprintf("%v %v", vals, errs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("never saw %s; last poll: %s", what, last)
}

func TestUpsdDummyUPS(t *testing.T) {
	requireNUT(t)
	addr, devFile := startNUT(t, "ups.status: OL CHRG\nbattery.charge: 100\nbattery.runtime: 1800\n"+
		"battery.voltage: 27.1\nbattery.temperature: 25.0\ninput.voltage: 230.0\noutput.voltage: 229.0\n"+
		"ups.load: 23\nbattery.temperature.cell.max: 26.5\n")
	pass := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(pass, []byte("secret\n"), 0o600)
	d := newDevice(t, &Options{Address: addr, UPS: "dummy", Username: "mon", PasswordFile: pass,
		Variables: map[string]string{"battery.temperature.cell.max": "cell_max_temp"}})

	waitFor(t, d, "the .dev file's values on line power", func(v map[reading.Channel]float64) bool {
		return v[reading.OnBattery] == 0 && v[reading.Charge] == 100 && v[reading.Runtime] == 1800 &&
			v[reading.BatteryVoltage] == 27.1 && v[reading.BatteryTemp] == 25 && v[reading.InputVoltage] == 230 &&
			v[reading.OutputVoltage] == 229 && v[reading.Load] == 23 && v["cell_max_temp"] == 26.5 &&
			v[reading.LowBattery] == 0
	})

	// The mains fail and the battery runs down: dummy-ups re-reads the file when its mtime changes.
	dev := "ups.status: OB DISCHRG LB RB\nbattery.charge: 18\nbattery.runtime: 240\nbattery.voltage: 22.9\n" +
		"battery.temperature: 41.5\ninput.voltage: 0.0\noutput.voltage: 228.0\nups.load: 35\n" +
		"battery.temperature.cell.max: 44.0\n"
	if err := os.WriteFile(devFile, []byte(dev), 0o640); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(2 * time.Second)
	os.Chtimes(devFile, future, future) // a distinct mtime even on coarse-timestamp filesystems
	waitFor(t, d, "on battery, low battery, replace battery", func(v map[reading.Channel]float64) bool {
		return v[reading.OnBattery] == 1 && v[reading.LowBattery] == 1 && v[reading.ReplaceBattery] == 1 &&
			v[reading.Charge] == 18 && v[reading.Runtime] == 240 && v[reading.BatteryTemp] == 41.5 &&
			v["cell_max_temp"] == 44 && v[reading.InputVoltage] == 0
	})
}

func TestUpsdUnknownUPS(t *testing.T) {
	requireNUT(t)
	addr, _ := startNUT(t, "ups.status: OL\n")
	d := newDevice(t, &Options{Address: addr, UPS: "nosuch"})
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := read(t, d)
		if err != nil && strings.Contains(err.Error(), "UNKNOWN-UPS") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("err %v, want UNKNOWN-UPS", err)
		}
		time.Sleep(200 * time.Millisecond) // upsd not listening yet
	}
}
