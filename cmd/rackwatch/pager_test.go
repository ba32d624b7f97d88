//go:build !nopager

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `rackwatch pager` and `rackwatch check` refuse a bad pager config with every error as FILE:LINE, exit 2,
// before anything starts.
func TestPagerRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "pager.yaml")
	os.WriteFile(bad, []byte(`pager:
  id: pager-a
  brokers: [{url: tcp://127.0.0.1:1883}]
  gateways: {offline_grace: soon}
receivers:
  - {name: pd, pagerduty: {routing_key: inline-key}}
routes:
  - {match: {severity: critical}, receivers: [pd, am]}
`), 0o600)
	var out, errb bytes.Buffer
	if rc := pagerMain([]string{"-c", bad}, &out, &errb); rc != 2 {
		t.Fatalf("exit %d: %s", rc, errb.String())
	}
	if !strings.Contains(errb.String(), bad+`:4: pager.gateways.offline_grace: "soon" is not a duration`) {
		t.Errorf("stderr:\n%s", errb.String())
	}
	os.WriteFile(bad, bytes.Replace(mustRead(t, bad), []byte("soon"), []byte("30s"), 1), 0o600)
	errb.Reset()
	if rc := checkPager(bad, &out, &errb); rc != 2 {
		t.Fatalf("check exit %d", rc)
	}
	for _, want := range []string{
		bad + `:6: receiver "pd": routing_key is not written in the config; use routing_key_file or routing_key_env`,
		bad + `:8: route: receiver "am" is not defined under receivers`,
	} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("missing %q in:\n%s", want, errb.String())
		}
	}
	if !isPagerConfig(bad) || isPagerConfig(filepath.Join("..", "..", "configs", "demo.yaml")) {
		t.Error("isPagerConfig misjudges a file")
	}
}

// `rackwatch check` reads the secrets a pager config names, and says which line names a missing one.
func TestCheckPagerSecrets(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "pager.yaml")
	key := filepath.Join(dir, "pd.key")
	os.WriteFile(cfg, []byte(`pager:
  id: pager-a
  state_dir: `+dir+`
  brokers: [{url: tcp://127.0.0.1:1883}]
receivers:
  - {name: am, alertmanager: {url: "http://127.0.0.1:9093"}}
  - {name: pd, pagerduty: {routing_key_file: `+key+`}}
`), 0o600)
	var out, errb bytes.Buffer
	if rc := checkPager(cfg, &out, &errb); rc != 2 || !strings.Contains(errb.String(), cfg+`:7: receiver "pd": routing key: open `+key) {
		t.Fatalf("exit %d: %s", rc, errb.String())
	}
	os.WriteFile(key, []byte("0123456789abcdef0123456789abcdef\n"), 0o600)
	out.Reset()
	errb.Reset()
	if rc := checkPager(cfg, &out, &errb); rc != 0 || !strings.Contains(out.String(), "ok (pager pager-a: 1 brokers, 2 receivers, 0 routes)") {
		t.Fatalf("exit %d: %s %s", rc, out.String(), errb.String())
	}
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
