package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rackwatch/rackwatch/agent/fileref"
	"github.com/rackwatch/rackwatch/agent/operator"
)

func TestCheckOperators(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	opdir := filepath.Join(dir, "operators")
	os.Mkdir(keys, 0o755)
	os.Mkdir(opdir, 0o755)
	for _, n := range []string{"alice", "bob"} {
		if _, _, err := operator.NewKeyFiles(keys, n); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(keys, "bob.pub"))
	os.WriteFile(filepath.Join(opdir, "bob.pub"), b, 0o644)
	os.Chmod(filepath.Join(opdir, "bob.pub"), 0o666)
	body := `
gateway: {id: gw, state_dir: DIR/state, http: 0.0.0.0:9108}
mqtt:
  brokers:
    - {url: tcp://127.0.0.1:1883}
    - {url: tcp://dash.example:1883, commands: false}
  embedded_broker: 0.0.0.0:18830
operators:
  - {name: alice, public_key_file: DIR/keys/alice.pub}
operators_dir: operators
command_window: 1m
`
	errs, warns := checkFiles(t, dir, body)
	if errs != "" {
		t.Fatal(errs)
	}
	file := filepath.Join(dir, "rackwatch.yaml")
	for _, want := range []string{
		file + ":2: warning: gateway.http 0.0.0.0:9108 listens beyond loopback",
		file + ":4: warning: mqtt.embedded_broker 0.0.0.0:18830 listens beyond loopback without authentication",
		file + ":10: warning: operators_dir " + filepath.Join(opdir, "bob.pub") + ": every user can change it (mode 0666)",
	} {
		if !strings.Contains(warns, want) {
			t.Errorf("warnings lack %q:\n%s", want, warns)
		}
	}
	p := filepath.Join(dir, "rackwatch.yaml")
	plan, err := LoadAndCheck(p, filesRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if plan.Operators.Len() != 2 {
		t.Fatalf("%+v", plan.Operators.Operators())
	}
	d := strings.Join(plan.DescribeOperators(), "\n")
	for _, want := range []string{"operators: alice (SHA256:", "bob (SHA256:", "within ±1m", "commands from: tcp://127.0.0.1:1883, the embedded broker; ignored from: tcp://dash.example:1883"} {
		if !strings.Contains(d, want) {
			t.Errorf("%q lacks %q", d, want)
		}
	}

	// With users on the embedded broker, the warning is about TLS; a private key among the operators' keys
	// is a warning, a key that is no public key an error at its line.
	os.WriteFile(filepath.Join(dir, "users"), []byte("alice:$2y$05$abcdefghijklmnopqrstuuJ3/0kqv2lH8Vvq1wM6nR2e7Lx5D0Y3u\n"), 0o600)
	priv, _ := os.ReadFile(filepath.Join(keys, "alice.key"))
	os.WriteFile(filepath.Join(opdir, "carol.key"), priv, 0o600)
	body = strings.Replace(body, "  embedded_broker: 0.0.0.0:18830\n", "  embedded_broker: 0.0.0.0:18830\n  embedded_broker_auth: {password_file: DIR/users, operators: [alice]}\n", 1)
	body = strings.Replace(body, "operators_dir: operators\n", "operators_dir: operators\n  # \n", 1)
	_, warns = checkFiles(t, dir, strings.Replace(body, "  # \n", "", 1))
	for _, want := range []string{"without TLS: broker passwords", "holds carol.key, a private key"} {
		if !strings.Contains(warns, want) {
			t.Errorf("warnings lack %q:\n%s", want, warns)
		}
	}
	os.WriteFile(filepath.Join(opdir, "dave.pub"), priv, 0o644)
	os.WriteFile(p, []byte(strings.ReplaceAll(strings.Replace(body, "  # \n", "", 1), "DIR", dir)), 0o644)
	if _, err := LoadAndCheck(p, filesRegistry()); err == nil || !strings.Contains(err.Error(), file+":11: operator dave: public_key_file") || !strings.Contains(err.Error(), "PRIVATE key") {
		t.Fatalf("a private key as dave.pub: %v", err)
	}
}

func TestDescribeNoOperators(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "rackwatch.yaml"), []byte("gateway: {id: gw, state_dir: "+dir+"}\nmqtt: {embedded_broker: 127.0.0.1:0}\n"), 0o644)
	plan, err := LoadAndCheck(filepath.Join(dir, "rackwatch.yaml"), filesRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if d := plan.DescribeOperators(); len(d) != 1 || !strings.Contains(d[0], "operators: none, so every ack, shelve, unshelve and output test is refused") {
		t.Fatal(d)
	}
	if _, warns := CheckFiles(plan, fileref.Process()); len(warns) != 0 {
		t.Fatal(warns)
	}
}
