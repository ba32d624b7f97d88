package config

import (
	"encoding"
	"fmt"
	"reflect"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/rackwatch/rackwatch/agent/settings"
)

var (
	// Types that parse their own scalar form (durations, byte sizes) implement encoding.TextUnmarshaler.
	textType    = reflect.TypeFor[encoding.TextUnmarshaler]()
	optionsType = reflect.TypeFor[settings.Options]()
)

// decode fills v from n strictly. Unlike yaml.Node.Decode it rejects unknown keys (yaml.v3 checks known
// fields only in its Decoder, which loses the node's line numbers) and reports every problem with its line.
func (c *collector) decode(n *yaml.Node, v reflect.Value, path string) {
	for n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if v.CanAddr() && v.Kind() != reflect.Pointer && v.Addr().Type().Implements(textType) {
		if n.Kind != yaml.ScalarNode || isNull(n) {
			c.add(n.Line, "%sexpected a %s, got %s", prefix(path), scalarName(v.Type()), describe(n))
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			c.add(n.Line, "%s%v", prefix(path), err)
		}
		return
	}
	if v.Type() == actionsType {
		c.decodeActions(n, v, path)
		return
	}
	if v.Type() == optionsType {
		v.Set(reflect.ValueOf(settings.Options(nodeOptions{node: n, file: c.file})))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if isNull(n) {
			return
		}
		p := reflect.New(v.Type().Elem())
		c.decode(n, p.Elem(), path)
		v.Set(p)
	case reflect.Struct:
		c.decodeStruct(n, v, path)
	case reflect.Slice:
		if isNull(n) {
			return
		}
		if n.Kind != yaml.SequenceNode {
			c.add(n.Line, "%sexpected a list, got %s", prefix(path), describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			c.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Map:
		if isNull(n) {
			return
		}
		if n.Kind != yaml.MappingNode {
			c.add(n.Line, "%sexpected a mapping, got %s", prefix(path), describe(n))
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if prev, dup := seen[k.Value]; dup {
				c.add(k.Line, "%sduplicate key %q (first on line %d)", prefix(path), k.Value, prev)
				continue
			}
			seen[k.Value] = k.Line
			e := reflect.New(v.Type().Elem()).Elem()
			c.decode(val, e, path+"."+k.Value)
			m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), e)
		}
		v.Set(m)
	case reflect.String:
		if n.Kind != yaml.ScalarNode || isNull(n) {
			c.add(n.Line, "%sexpected a string, got %s", prefix(path), describe(n))
			return
		}
		v.SetString(n.Value)
	default:
		if n.Kind != yaml.ScalarNode || isNull(n) {
			c.add(n.Line, "%sexpected a %s, got %s", prefix(path), kindName(v.Kind()), describe(n))
			return
		}
		p := reflect.New(v.Type())
		if err := n.Decode(p.Interface()); err != nil {
			c.add(n.Line, "%sexpected a %s, got %q", prefix(path), kindName(v.Kind()), n.Value)
			return
		}
		v.Set(p.Elem())
	}
}

func (c *collector) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		c.add(n.Line, "%sexpected a mapping, got %s", prefix(path), describe(n))
		return
	}
	t := v.Type()
	fields := map[string]int{}
	rest := -1
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		switch {
		case f.Name == "Line" && f.Type.Kind() == reflect.Int:
			v.Field(i).SetInt(int64(n.Line))
		case tag == ",rest":
			rest = i
		case f.Name == "KeyLines" && f.Type == reflect.TypeFor[map[string]int]():
			lines := make(map[string]int, len(n.Content)/2)
			for k := 0; k+1 < len(n.Content); k += 2 {
				lines[n.Content[k].Value] = n.Content[k].Line
			}
			v.Field(i).Set(reflect.ValueOf(lines))
		case tag != "" && tag != "-":
			fields[strings.Split(tag, ",")[0]] = i
		}
	}
	var restNode *yaml.Node
	if rest >= 0 {
		restNode = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column}
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Value == "<<" {
			c.add(k.Line, "%sYAML merge keys (<<) are not supported; write the keys out", prefix(path))
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			c.add(k.Line, "%sduplicate key %q (first on line %d)", prefix(path), k.Value, prev)
			continue
		}
		seen[k.Value] = k.Line
		fi, ok := fields[k.Value]
		if !ok {
			if restNode != nil {
				restNode.Content = append(restNode.Content, k, val)
				continue
			}
			c.add(k.Line, "%sunknown key %q (known keys: %s)", prefix(path), k.Value, knownKeys(fields))
			continue
		}
		c.decode(val, v.Field(fi), joinPath(path, k.Value))
	}
	if restNode != nil {
		v.Field(rest).Set(reflect.ValueOf(settings.Options(nodeOptions{node: restNode, file: c.file})))
	}
}

// prefix renders a key path for the start of a message: "mqtt.readings.every: ", or nothing at the top.
func prefix(path string) string {
	if path == "" {
		return ""
	}
	return path + ": "
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func knownKeys(fields map[string]int) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// scalarName says what a self-parsing type expects, for "expected a …" messages.
func scalarName(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[settings.Duration]():
		return "duration such as 500ms, 30s or 5m"
	case reflect.TypeFor[settings.ByteSize]():
		return "size such as 64MiB"
	}
	return "value"
}

func kindName(k reflect.Kind) string {
	switch k {
	case reflect.Bool:
		return "boolean (true or false)"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "non-negative whole number"
	case reflect.Float32, reflect.Float64:
		return "number"
	}
	return k.String()
}
