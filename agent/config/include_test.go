package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const incHead = `gateway: {id: gw1}
mqtt: {embedded_broker: "127.0.0.1:1883"}
sensors:
  - {id: ups1, driver: sim}
`

func TestIncludeRuleFiles(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"main.yaml":          incHead + "include: [rules/a.yaml, rules/b.yaml]\nrules:\n  - {id: local, match: {channel: t}, above: 1}\n",
		"rules/a.yaml":       "# a rule set\nrules:\n  - {id: a1, match: {channel: t}, above: 2}\n",
		"rules/b.yaml":       "rules:\n  - {id: b1, any: [a1, local]}\n",
		"bad-key.yaml":       incHead + "include: [rules/sensors.yaml]\n",
		"rules/sensors.yaml": "sensors: []\nrules: []\n",
		"dup.yaml":           incHead + "include: [rules/a.yaml]\nrules:\n  - {id: a1, match: {channel: t}, above: 1}\n",
		"missing.yaml":       incHead + "include:\n  - rules/a.yaml\n  - rules/nope.yaml\n",
		"badrule.yaml":       incHead + "include: [rules/c.yaml]\n",
		"rules/c.yaml":       "rules:\n  - {id: c1, match: {channel: t}}\n",
	})
	cfg, err := Load(filepath.Join(dir, "main.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range cfg.Rules {
		ids = append(ids, r.ID)
	}
	if strings.Join(ids, ",") != "local,a1,b1" || cfg.Rules[1].File != filepath.Join(dir, "rules/a.yaml") || cfg.Rules[1].Line != 3 {
		t.Fatalf("rules %v, a1 from %s:%d", ids, cfg.Rules[1].File, cfg.Rules[1].Line)
	}
	for file, want := range map[string]string{
		"bad-key.yaml": "rules/sensors.yaml:1: an included file holds only rules: (\"sensors\" belongs in bad-key.yaml)",
		"dup.yaml":     `rules/a.yaml:3: rule id "a1" is defined twice (first on ` + filepath.Join(dir, "dup.yaml") + ":7)",
		"missing.yaml": "missing.yaml:7: include: cannot read rules/nope.yaml: no such file or directory",
		"badrule.yaml": `rules/c.yaml:2: rule "c1": give exactly one of`,
	} {
		_, err := Load(filepath.Join(dir, file))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", file, err, want)
		}
	}
}

func TestNewRuleKindValidation(t *testing.T) {
	for _, c := range []struct{ rule, want string }{
		{`  - {id: a, match: {channel: t}, against: {channel: t}, above: 3, clear: 2, learn: 6h, for: 20s}`, ""},
		{`  - {id: a, match: {channel: t}, above_baseline: {ratio: 3, min_rise: 300, learn: 12h}, for: 20s}`, ""},
		{`  - {id: a, match: {channel: t}, stuck: 30m, resolution: 0.05}`, ""},
		{`  - {id: a, match: {sensor: "*"}, stale: 1m, device: true}`, ""},
		{"  - {id: a, match: {channel: t}, above: 1}\n  - {id: b, any: [a, a], at_least: 2, distinct_sensors: true, within: 30m, latch: true}", ""},
		{"  - {id: a, match: {channel: t}, state: true}\n  - {id: b, match: {channel: u}, state: true, unless: [a]}", ""},
		{`  - {id: a, match: {channel: t}, against: {channel: t}}`, "exactly one of"},
		{`  - {id: a, match: {channel: t}, above: 1, learn: 6h}`, "learn applies only to differential"},
		{`  - {id: a, match: {channel: t}, against: {channel: t}, above: 1, learn: 5s}`, "learn 5s is too short"},
		{`  - {id: a, match: {channel: t}, above_baseline: {ratio: 0.5}}`, "ratio must be a number of at least 1"},
		{`  - {id: a, match: {channel: t}, above_baseline: {ratio: 1}}`, "needs ratio above 1 or min_rise above 0"},
		{`  - {id: a, match: {channel: t}, above_baseline: {ratio: 2, typo: 1}}`, `unknown key "typo"`},
		{`  - {id: a, match: {channel: t}, above_baseline: {ratio: 2}, clear: 1}`, "clear applies only to"},
		{`  - {id: a, match: {channel: t}, stuck: 10s}`, "stuck 10s is too short"},
		{`  - {id: a, match: {channel: t}, above: 1, resolution: 0.1}`, "resolution applies only to stuck"},
		{`  - {id: a, match: {channel: t}, above: 1, device: true}`, "device applies only to stale"},
		{`  - {id: a, match: {channel: t}, above: 1, within: 1m}`, "apply only to composite"},
		{"  - {id: a, match: {channel: t}, above: 1}\n  - {id: b, all: [a], at_least: 1}", "at_least goes with any"},
		{"  - {id: a, match: {channel: t}, above: 1}\n  - {id: b, any: [a], at_least: 2}", "more than the 1 rules listed"},
		{"  - {id: a, match: {channel: t}, above: 1}\n  - {id: b, any: [a], within: 200h}", "within must be between"},
		{`  - {id: a, match: {channel: t}, above: 1, unless: [nope]}`, `unless refers to rule "nope"`},
		{"  - {id: a, match: {channel: t}, above: 1}\n  - {id: c, any: [a]}\n  - {id: b, match: {channel: t}, above: 1, unless: [c]}", "name a rule on a sensor channel"},
		{`  - {id: a, match: {channel: t}, above: 1, internal: true, latch: true}`, "nobody could acknowledge"},
	} {
		_, err := Parse("r.yaml", []byte(rulesHead+c.rule+"\n"))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.rule, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want %q", c.rule, err, c.want)
		case c.want != "" && !strings.Contains(err.Error(), "r.yaml:"):
			t.Errorf("%s: %v lacks FILE:LINE", c.rule, err)
		}
	}
}
