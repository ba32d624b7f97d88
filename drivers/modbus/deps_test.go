package modbus_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The driver links nothing that only a simulator needs: pseudo-terminals and the simulator itself live in
// modbussim (go list -deps is the driver's real dependency closure, tests aside).
func TestDriverDoesNotLinkTheSimulator(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH")
	}
	const pkg = "github.com/rackwatch/rackwatch/drivers/modbus"
	out, err := exec.Command("go", "list", "-deps", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "github.com/creack/pty" || dep == pkg+"/modbussim" {
			t.Errorf("%s depends on %s", pkg, dep)
		}
	}
}
