package config

import (
	"errors"

	"os"
	"path/filepath"
	"reflect"

	yaml "go.yaml.in/yaml/v3"

	"github.com/rackwatch/rackwatch/agent/rules"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// ruleFile is what an included file may hold: rules, and nothing else.
type ruleFile struct {
	Rules []rules.Rule `yaml:"rules"`
}

// maxIncludes bounds how many rule files one config may include.
const maxIncludes = 32

// include reads the rule files the config lists, relative to the config's own directory, and appends their
// rules, each marked with its file so errors point into it. An included file holds `rules:` only (its
// sensors are the including config's) and includes nothing itself.
func (cfg *Config) include(path string, lines []int) settings.Errors {
	var errs settings.Errors
	if len(cfg.Include) > maxIncludes {
		errs.Add(path, lineAt(lines, 0), "include: at most %d files", maxIncludes)
		return errs
	}
	seen := map[string]bool{}
	for i, inc := range cfg.Include {
		line := lineAt(lines, i)
		if inc == "" {
			errs.Add(path, line, "include: empty path")
			continue
		}
		full := inc
		if !filepath.IsAbs(full) {
			full = filepath.Join(filepath.Dir(path), inc)
		}
		if seen[full] {
			errs.Add(path, line, "include: %q is listed twice", inc)
			continue
		}
		seen[full] = true
		data, err := os.ReadFile(full)
		if err != nil {
			errs.Add(path, line, "include: cannot read %s: %v", inc, errors.Unwrap(err))
			continue
		}
		c := &collector{file: full}
		doc, ok := c.unmarshal(data)
		if !ok {
			errs = append(errs, c.errs...)
			continue
		}
		if root := doc.Content[0]; root.Kind == yaml.MappingNode {
			for j := 0; j+1 < len(root.Content); j += 2 {
				if k := root.Content[j]; k.Value != "rules" {
					c.add(k.Line, "an included file holds only rules: (%q belongs in %s)", k.Value, filepath.Base(path))
				}
			}
		}
		if len(c.errs) > 0 {
			errs = append(errs, c.errs...)
			continue
		}
		var rf ruleFile
		c.decode(doc, reflect.ValueOf(&rf).Elem(), "")
		errs = append(errs, c.errs...)
		for j := range rf.Rules {
			rf.Rules[j].File = full
		}
		cfg.Rules = append(cfg.Rules, rf.Rules...)
	}
	return errs
}

// includeLines finds the line of each entry of the top-level include list.
func includeLines(doc *yaml.Node) []int {
	root := doc
	for root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "include" {
			continue
		}
		v := root.Content[i+1]
		if v.Kind != yaml.SequenceNode {
			return []int{v.Line}
		}
		out := make([]int, len(v.Content))
		for j, item := range v.Content {
			out[j] = item.Line
		}
		return out
	}
	return nil
}

func lineAt(lines []int, i int) int {
	switch {
	case i < len(lines):
		return lines[i]
	case len(lines) > 0:
		return lines[0]
	}
	return 0
}
