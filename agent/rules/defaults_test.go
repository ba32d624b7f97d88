package rules

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDefaultRuleSets builds an engine from every shipped configs/rules-*.yaml, and replays the battery-room
// incident through the battery-room defaults: they must see the runaway and the fire coming, in that order,
// and stay quiet through the trace's calm first ten minutes (including its one glitchy sample).
func TestDefaultRuleSets(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "configs", "rules-*.yaml"))
	if err != nil || len(files) < 3 {
		t.Fatalf("default rule sets: %v %v", files, err)
	}
	for _, f := range files {
		loadConfig(t, f).engine(t)
	}
	e := loadConfig(t, filepath.Join("..", "..", "configs", "rules-battery-room.yaml")).engine(t)
	trace, err := os.Open(filepath.Join("testdata", "battery-room.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer trace.Close()
	var out bytes.Buffer
	if _, _, err := Replay(e, trace, &out, false); err != nil {
		t.Fatal(err)
	}
	timeline := out.String()
	runaway := strings.Index(timeline, "raise    critical active,unacked  runaway-suspected:")
	fire := strings.Index(timeline, "raise    critical active,unacked  fire-suspected:")
	if runaway < 0 || fire < 0 || fire < runaway {
		t.Fatalf("runaway at %d, fire at %d in\n%s", runaway, fire, timeline)
	}
	for _, line := range strings.Split(timeline, "\n") {
		if line != "" && line < "2022-10-15T06:08" {
			t.Errorf("alarm during the calm part: %s", line)
		}
	}
}
