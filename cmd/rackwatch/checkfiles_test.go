package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rackwatch/rackwatch/agent"
	"github.com/rackwatch/rackwatch/agent/fileref"
)

// captureStderr runs f with os.Stderr going to a pipe and returns what was written.
func captureStderr(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stderr
	os.Stderr = w
	done := make(chan string)
	go func() { b, _ := io.ReadAll(r); done <- string(b) }()
	defer func() { os.Stderr = old }()
	f()
	w.Close()
	return <-done
}

// `check` and `run` refuse a config naming a secret that is not there: the broker would stay down
// quietly (and a UPS on NUT would never be read) while check said ok.
func TestCheckAndRunRefuseMissingSecrets(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "rackwatch.yaml")
	os.WriteFile(cfg, []byte(`
gateway: {id: gw, state_dir: `+filepath.Join(dir, "state")+`}
mqtt:
  brokers:
    - {url: tcp://127.0.0.1:1883, username: gw, password_file: `+filepath.Join(dir, "mqtt.pass")+`}
sensors:
  - {id: ups1, driver: nut, address: 127.0.0.1, ups: ups, username: mon, password_file: `+filepath.Join(dir, "nut.pass")+`}
`), 0o644)
	var code int
	out := captureStderr(t, func() { code = cmdCheck([]string{"-c", cfg}) })
	if code != 2 {
		t.Errorf("check exit %d, want 2; stderr:\n%s", code, out)
	}
	for _, want := range []string{
		cfg + ":5: password_file " + filepath.Join(dir, "mqtt.pass") + ": does not exist",
		cfg + ":7: password_file " + filepath.Join(dir, "nut.pass") + ": does not exist",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check stderr lacks %q:\n%s", want, out)
		}
	}
	out = captureStderr(t, func() { code = cmdRun([]string{"-c", cfg}) })
	if code != 2 || !strings.Contains(out, "mqtt.pass: does not exist") {
		t.Errorf("run exit %d, want 2 before starting; stderr:\n%s", code, out)
	}

	// With the files in place (readable by the owner only) it passes, without warnings.
	os.WriteFile(filepath.Join(dir, "mqtt.pass"), []byte("pw\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "nut.pass"), []byte("pw\n"), 0o600)
	out = captureStderr(t, func() { code = checkAsMe(t, cfg) })
	if code != 0 || out != "" {
		t.Errorf("check exit %d; stderr:\n%s", code, out)
	}
	// A world-readable secret is a warning on stderr; the config still passes.
	os.Chmod(filepath.Join(dir, "nut.pass"), 0o644)
	out = captureStderr(t, func() { code = checkAsMe(t, cfg) })
	if code != 0 || !strings.Contains(out, cfg+":7: warning: password_file "+filepath.Join(dir, "nut.pass")+": a secret readable by every user (mode 0644)") {
		t.Errorf("check exit %d; stderr:\n%s", code, out)
	}
}

// checkAsMe runs `check` for the test's own user: run as root, check would judge the files for the service
// user when it exists on this machine.
func checkAsMe(t *testing.T, cfg string) int {
	t.Helper()
	_, warns, err := loadPlan(cfg, registry(), fileref.Process())
	for _, w := range warns {
		os.Stderr.WriteString(w.Error() + "\n")
	}
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 2
	}
	return 0
}

// A config above 1 MiB is refused before it is read.
func TestCheckRefusesHugeConfig(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "rackwatch.yaml")
	f, _ := os.Create(cfg)
	f.Truncate(89 << 20)
	f.Close()
	var code int
	out := captureStderr(t, func() { code = cmdCheck([]string{"-c", cfg}) })
	if code != 2 || !strings.Contains(out, cfg+": cannot read config: larger than 1 MiB") {
		t.Errorf("check exit %d; stderr:\n%s", code, out)
	}
}

// The config the package installs as /etc/rackwatch/rackwatch.yaml passes check as it is (the package
// test also checks it installed, as the service user).
func TestPackagedConfig(t *testing.T) {
	plan, err := agent.LoadAndCheck("../../configs/packaging/rackwatch.yaml", registry())
	if err != nil {
		t.Fatal(err)
	}
	cfg := plan.Config
	if cfg.Gateway.StateDir != "/var/lib/rackwatch" || cfg.Gateway.HTTP != "127.0.0.1:9108" || cfg.MQTT.EmbeddedBroker != "127.0.0.1:1883" || len(cfg.MQTT.Brokers) != 0 {
		t.Errorf("the starting config is meant to stay on this machine: %+v %+v", cfg.Gateway, cfg.MQTT)
	}
	// Nothing it names can be missing: it names no secret.
	for _, r := range plan.Files() {
		if r.Key != "gateway.state_dir" {
			t.Errorf("the starting config names %s %s", r.Key, r.Path)
		}
	}
}
