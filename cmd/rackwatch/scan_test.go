package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestScanW1ListsKernelProbes(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"28-0316a2795aff", "28-0416b3c41aff", "w1_bus_master1", "3a-000000123456"} {
		os.MkdirAll(filepath.Join(root, "bus", "w1", "devices", d), 0o755)
	}
	r, w, _ := os.Pipe()
	stdout := os.Stdout
	os.Stdout = w
	code := mainArgs([]string{"scan", "--bus", "w1", "--sysfs", root})
	w.Close()
	os.Stdout = stdout
	out, _ := io.ReadAll(r)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	for _, want := range []string{"{id: w1.28-0316a2795aff, driver: ds18b20, rom: 28-0316a2795aff}", "rom: 28-0416b3c41aff"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "w1_bus_master") || strings.Contains(string(out), "3a-") {
		t.Errorf("non-temperature devices listed:\n%s", out)
	}
	if code := mainArgs([]string{"scan", "--bus", "/dev/i2c-does-not-exist"}); code != 2 {
		t.Errorf("missing adapter: exit %d, want 2", code)
	}
}
