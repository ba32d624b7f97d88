package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/fileref"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/drivers/sim"
)

// filesRegistry has the sim driver and a driver that takes any option, as nut, snmp and modbus take
// password_file, community_file and profile_dir.
func filesRegistry() *driver.Registry {
	r := driver.NewRegistry()
	sim.Register(r)
	r.Add(driver.Driver{Name: "anyopts", Check: func(*driver.Sensor) ([]driver.ChannelInfo, error) {
		return driver.Channels(reading.Temperature), nil
	}})
	return r
}

// checkFiles loads body (DIR replaced by a directory of the test) and checks its files as this process.
func checkFiles(t *testing.T, dir, body string) (errs, warns string) {
	t.Helper()
	p := filepath.Join(dir, "rackwatch.yaml")
	os.WriteFile(p, []byte(strings.ReplaceAll(body, "DIR", dir)), 0o644)
	plan, err := LoadAndCheck(p, filesRegistry())
	if err != nil {
		t.Fatal(err)
	}
	e, w := CheckFiles(plan, fileref.Process())
	if len(e) > 0 {
		errs = e.Error()
	}
	if len(w) > 0 {
		warns = w.Error()
	}
	return errs, warns
}

func TestCheckFilesMissing(t *testing.T) {
	dir := t.TempDir()
	errs, _ := checkFiles(t, dir, `
gateway: {id: gw, state_dir: DIR/state}
mqtt:
  brokers:
    - {url: tcp://127.0.0.1:1883, username: gw, password_file: DIR/mqtt.pass}
    - url: tls://127.0.0.1:8883
      ca_file: DIR/ca.pem
      cert_file: DIR/gw.pem
      key_file: DIR/gw.key
sensors:
  - {id: ups1, driver: anyopts, password_file: DIR/nut.pass, community_file: DIR/ups.community, profile_dir: profiles}
rules:
  - {id: hot, match: {channel: temperature}, above: 40}
`)
	file := filepath.Join(dir, "rackwatch.yaml")
	for _, want := range []string{
		file + ":5: password_file " + dir + "/mqtt.pass: does not exist",
		file + ":6: ca_file " + dir + "/ca.pem: does not exist",
		file + ":6: cert_file " + dir + "/gw.pem: does not exist",
		file + ":6: key_file " + dir + "/gw.key: does not exist",
		file + ":11: password_file " + dir + "/nut.pass: does not exist",
		file + ":11: community_file " + dir + "/ups.community: does not exist",
		// A directory is relative to the config file.
		file + ":11: profile_dir " + dir + "/profiles: does not exist",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("missing error %q in\n%s", want, errs)
		}
	}
	if n := strings.Count(errs, "\n") + 1; n != 7 {
		t.Errorf("%d errors, want 7:\n%s", n, errs)
	}
}

// The files exist but hold the wrong thing: run would find a broker it cannot use.
func TestCheckFilesContent(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ca.pem"), []byte("not a certificate\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "mqtt.pass"), []byte("s3cret\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "state"), nil, 0o644) // a file where the state directory should be
	errs, warns := checkFiles(t, dir, `
gateway: {id: gw, state_dir: DIR/state}
mqtt:
  brokers:
    - {url: tls://127.0.0.1:8883, ca_file: DIR/ca.pem, username: gw, password_file: DIR/mqtt.pass}
`)
	file := filepath.Join(dir, "rackwatch.yaml")
	want := file + ":2: gateway.state_dir " + dir + "/state: is not a directory\n" +
		file + ":5: broker tls://127.0.0.1:8883: ca_file " + dir + "/ca.pem: no PEM certificate in it"
	if errs != want {
		t.Errorf("errors\n%s\nwant\n%s", errs, want)
	}
	if warns != "" {
		t.Errorf("warnings: %s", warns)
	}
}

func TestCheckFilesWarnings(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "mqtt.pass"), []byte("s3cret\n"), 0o644)
	os.Chmod(filepath.Join(dir, "mqtt.pass"), 0o644)
	t.Chdir(dir)
	errs, warns := checkFiles(t, dir, `
gateway: {id: gw, state_dir: DIR/state}
mqtt:
  brokers:
    - {url: tcp://127.0.0.1:1883, username: gw, password_file: mqtt.pass}
`)
	if errs != "" {
		t.Fatalf("errors: %s", errs)
	}
	file := filepath.Join(dir, "rackwatch.yaml")
	want := file + `:5: warning: password_file mqtt.pass: a secret readable by every user (mode 0644); chmod o-rwx it` + "\n" +
		file + `:5: warning: password_file "mqtt.pass" is relative: the agent opens it from its working directory (/ as a service), not from the config's; write the absolute path`
	if warns != want {
		t.Errorf("warnings\n%s\nwant\n%s", warns, want)
	}
}
