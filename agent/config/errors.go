package config

import (
	"fmt"
	"regexp"
	"strconv"

	yaml "go.yaml.in/yaml/v3"

	"github.com/rackwatch/rackwatch/agent/settings"
)

// collector gathers errors for one file.
type collector struct {
	file string
	errs settings.Errors
}

func (c *collector) add(line int, format string, args ...any) {
	c.errs = append(c.errs, &settings.Error{File: c.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// unmarshal parses data into a node tree, recording a syntax error with its line.
func (c *collector) unmarshal(data []byte) (*yaml.Node, bool) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			c.add(line, "%s", m[2])
		} else {
			c.add(0, "%v", err)
		}
		return nil, false
	}
	if len(doc.Content) == 0 {
		c.add(0, "the file is empty")
		return nil, false
	}
	return &doc, true
}
