package i2cscan

import (
	"os/exec"
	"strings"
	"testing"
)

// The scanner imports no chip driver: the chips it can name are handed to Scan as i2cbus.Identifiers.
func TestImportsNoChipDriver(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH")
	}
	const mod = "github.com/rackwatch/rackwatch/"
	out, err := exec.Command("go", "list", "-deps", mod+"drivers/i2c/i2cscan").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, mod+"drivers/") && dep != mod+"drivers/i2c/i2cbus" && dep != mod+"drivers/i2c/i2cscan" {
			t.Errorf("i2cscan depends on the driver package %s; hand its chips to Scan as i2cbus.Identifiers instead", dep)
		}
	}
}
