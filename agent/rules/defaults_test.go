package rules

import (
	"path/filepath"
	"testing"
)

// TestDefaultRuleSets builds an engine from every shipped config that carries rules; the corpus
// (TestCorpus) replays the battery-room defaults.
func TestDefaultRuleSets(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "configs", "*.yaml"))
	if err != nil || len(files) < 5 {
		t.Fatalf("configs: %v %v", files, err)
	}
	for _, f := range files {
		loadConfig(t, f).engine(t)
	}
}
