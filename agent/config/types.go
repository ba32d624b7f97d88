package config

import (
	"reflect"

	yaml "go.yaml.in/yaml/v3"

	"github.com/rackwatch/rackwatch/agent/settings"
)

// nodeOptions holds the keys of a sensor or bus that belong to its driver, as the YAML node they were
// read from, so that the driver decodes them as strictly as the rest of the file and the line numbers
// stay those of the original file. It implements settings.Options.
type nodeOptions struct {
	node *yaml.Node
	file string
}

var _ settings.Options = nodeOptions{}

// Decode fills v (a pointer to a struct with yaml tags) from the options. Unknown keys and wrong types are
// returned as Errors with file and line. Fields already set in v are defaults and stay when a key is absent.
func (o nodeOptions) Decode(v any) error {
	c := &collector{file: o.file}
	if o.node == nil {
		return nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		panic("config: Decode needs a non-nil pointer")
	}
	c.decode(o.node, rv.Elem(), "")
	if len(c.errs) > 0 {
		c.errs.Sort()
		return c.errs
	}
	return nil
}

// Empty reports whether there are no driver-specific keys.
func (o nodeOptions) Empty() bool { return o.node == nil || len(o.node.Content) == 0 }

// Line is the line of the mapping the options came from.
func (o nodeOptions) Line() int {
	if o.node == nil {
		return 0
	}
	return o.node.Line
}

// File is the name of the file the options came from.
func (o nodeOptions) File() string { return o.file }

// KeyLine is the line of key in the mapping, or the mapping's line when the key is absent.
func (o nodeOptions) KeyLine(key string) int {
	line := o.Line()
	if o.node != nil {
		for i := 0; i+1 < len(o.node.Content); i += 2 {
			if o.node.Content[i].Value == key {
				line = o.node.Content[i].Line
			}
		}
	}
	return line
}

// Parse reads another YAML document (a device profile) into options with the same strict rules.
func (o nodeOptions) Parse(file string, data []byte) (settings.Options, error) {
	return ParseOptions(file, data)
}

// ParseOptions reads a whole YAML document as Options, for files that a driver owns (Modbus device
// profiles): the driver decodes it with Decode, strictly and with line numbers.
func ParseOptions(file string, data []byte) (settings.Options, error) {
	c := &collector{file: file}
	doc, ok := c.unmarshal(data)
	if !ok {
		return nil, c.errs
	}
	n := doc
	for n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		c.add(n.Line, "expected a mapping of keys, got %s", describe(n))
		return nil, c.errs
	}
	return nodeOptions{node: n, file: file}, nil
}

// NoOptions is empty Options located at file:line, for sensors and buses built in code rather than read
// from a file.
func NoOptions(file string, line int) settings.Options {
	return nodeOptions{node: &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: line}, file: file}
}
