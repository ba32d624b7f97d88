package main

import (
	"path/filepath"
	"testing"

	"github.com/rackwatch/rackwatch/agent"
	"github.com/rackwatch/rackwatch/agent/config"
)

// Every example config shipped in configs/ must pass `rackwatch check` with the drivers compiled in.
func TestExampleConfigs(t *testing.T) {
	files, _ := filepath.Glob("../../configs/*.yaml")
	if len(files) == 0 {
		t.Fatal("no example configs found")
	}
	reg := registry()
	for _, f := range files {
		if isPagerConfig(f) {
			// The pager's example names secret files that exist only where it is installed.
			if _, err := config.LoadPager(f); err != nil {
				t.Errorf("%v", err)
			}
			continue
		}
		if _, err := agent.LoadAndCheck(f, reg); err != nil {
			t.Errorf("%v", err)
		}
	}
}
