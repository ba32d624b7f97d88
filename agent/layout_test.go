package agent

import (
	"os/exec"
	"strings"
	"testing"
)

// goList runs `go list` with args in the module and returns its output lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH")
	}
	out, err := exec.Command("go", append([]string{"list"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	return strings.Fields(string(out))
}

// TestDependencyRules holds the layout the design promises, from the packages' real dependency closures
// (go list -deps): the engine, the vocabulary, the contract and every driver are free of the YAML library
// (they get small option types, not a parser); only agent/mqtt links the MQTT client, only agent/broker
// the broker; the contract depends on nothing of the gateway.
func TestDependencyRules(t *testing.T) {
	t.Parallel() // only runs go list
	const mod = "github.com/rackwatch/rackwatch/"
	const yaml = "go.yaml.in/yaml/v3"
	lean := []string{mod + "agent/rules", mod + "agent/reading", mod + "agent/contract", mod + "agent/settings",
		mod + "agent/driver", mod + "agent/schedule"}
	lean = append(lean, goList(t, mod+"drivers/...", mod+"firmware-bridge/...")...)
	for _, p := range lean {
		for _, dep := range goList(t, "-deps", p) {
			switch {
			case dep == yaml || dep == "gopkg.in/yaml.v3":
				t.Errorf("%s depends on %s: give it small option types instead of the config", p, dep)
			case strings.HasPrefix(dep, "github.com/eclipse/paho"), strings.HasPrefix(dep, "github.com/mochi-mqtt"):
				t.Errorf("%s depends on %s: only agent/mqtt and agent/broker speak MQTT", p, dep)
			}
		}
	}
	for _, dep := range goList(t, "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", mod+"agent/contract") {
		if dep != mod+"agent/contract" && dep != mod+"agent/reading" {
			t.Errorf("the MQTT contract depends on %s; it may use only the standard library and agent/reading", dep)
		}
	}
	for _, line := range goList(t, "-f", "{{.ImportPath}}:{{join .Imports \",\"}}", mod+"...") {
		pkg, imports, _ := strings.Cut(line, ":")
		for _, imp := range strings.Split(imports, ",") {
			if strings.HasPrefix(imp, "github.com/eclipse/paho") && pkg != mod+"agent/mqtt" {
				t.Errorf("%s imports %s; only agent/mqtt may", pkg, imp)
			}
			if strings.HasPrefix(imp, "github.com/mochi-mqtt") && pkg != mod+"agent/broker" {
				t.Errorf("%s imports %s; only agent/broker may", pkg, imp)
			}
		}
	}
}
