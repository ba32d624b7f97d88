package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var testdata = filepath.Join("..", "..", "agent", "rules", "testdata")

func TestRulesTestCommand(t *testing.T) {
	cfg := filepath.Join(testdata, "battery-room.yaml")
	trace := filepath.Join(testdata, "battery-room.csv")
	timeline := filepath.Join(testdata, "battery-room.timeline")

	var out, errb bytes.Buffer
	if rc := rulesTest([]string{"-c", cfg, "--trace", trace, "--expect", timeline}, &out, &errb); rc != 0 {
		t.Fatalf("exit %d: %s", rc, errb.String())
	}
	if !strings.Contains(out.String(), "fire-suspected: Battery room FIRE suspected") || !strings.Contains(errb.String(), "749 readings, 15 transitions") {
		t.Fatalf("stdout:\n%s\nstderr:\n%s", out.String(), errb.String())
	}

	// An operator tightens the rate limit: the replay shows the heating alarm earlier, and --expect fails.
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	changed := filepath.Join(t.TempDir(), "changed.yaml")
	if err := os.WriteFile(changed, bytes.Replace(data, []byte("rate_above: 2,"), []byte("rate_above: 1,"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errb.Reset()
	if rc := rulesTest([]string{"-c", changed, "--trace", trace, "--expect", timeline}, &out, &errb); rc != 1 {
		t.Fatalf("exit %d, want 1: %s", rc, errb.String())
	}
	if !strings.Contains(errb.String(), "differs from") || !strings.Contains(errb.String(), "+ 2022-10-15T06:1") {
		t.Fatalf("stderr:\n%s", errb.String())
	}

	out.Reset()
	if rc := rulesTest([]string{"-c", cfg, "--trace", trace, "--json"}, &out, &errb); rc != 0 {
		t.Fatal(rc)
	}
	if first, _, _ := strings.Cut(out.String(), "\n"); !strings.HasPrefix(first, `{"gateway":"dc1-b3-battery","site":"dc1","alarm":"offgas-voc/batt-room.gas/voc"`) {
		t.Fatalf("json: %s", first)
	}

	for _, args := range [][]string{{"-c", cfg}, {"-c", filepath.Join(testdata, "missing.yaml"), "--trace", trace}, {"-c", cfg, "--trace", cfg}} {
		if rc := rulesTest(args, &out, &errb); rc != 2 {
			t.Errorf("%v: exit %d, want 2", args, rc)
		}
	}
}
