package modbus

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/configs/profiles"
)

// Profile is a named register map for a family of devices, kept in its own YAML file so that many
// sensors can share it (`profile: ups`).
type Profile struct {
	Name string `yaml:"-"`
	// File names where the profile came from, for error messages.
	File        string `yaml:"-"`
	Description string `yaml:"description"`
	// Source names the document the register map was taken from; required, so a map can be checked.
	Source string `yaml:"source"`
	// MaxRegisters and Gap are the device family's request limits; a sensor's own keys override them.
	MaxRegisters int       `yaml:"max_registers"`
	Gap          int       `yaml:"gap"`
	Registers    []RegSpec `yaml:"registers"`
}

// DefaultProfileDir is where user profiles are looked up, relative to the config file's directory,
// when a sensor sets no profile_dir.
const DefaultProfileDir = "profiles"

// ProfileDir resolves a sensor's profile_dir (possibly empty) against the config file's location.
func ProfileDir(configFile, dir string) string {
	if dir == "" {
		dir = DefaultProfileDir
	}
	if filepath.IsAbs(dir) || configFile == "" {
		return dir
	}
	return filepath.Join(filepath.Dir(configFile), dir)
}

// LoadProfile finds NAME.yaml in dir (user profiles win, so a site can correct a shipped map) and then
// among the built-in profiles. dir may be "" for built-ins only.
func LoadProfile(name, dir string) (*Profile, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return nil, fmt.Errorf("profile %q: use a bare name such as ups; put your own files in profile_dir", name)
	}
	if dir != "" {
		path := filepath.Join(dir, name+".yaml")
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			return ParseProfile(name, path, data)
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("profile %q: %w", name, err)
		}
	}
	data, err := fs.ReadFile(profiles.FS, name+".yaml")
	if err != nil {
		where := "built in"
		if dir != "" {
			where = dir + " or built in"
		}
		return nil, fmt.Errorf("profile %q not found in %s (known: %s)", name, where, strings.Join(ProfileNames(dir), ", "))
	}
	return ParseProfile(name, "profiles/"+name+".yaml (built in)", data)
}

// ProfileNames lists the profiles available from dir and the built-ins, sorted.
func ProfileNames(dir string) []string {
	seen := map[string]bool{}
	add := func(entries []fs.DirEntry) {
		for _, e := range entries {
			if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok && !e.IsDir() {
				seen[n] = true
			}
		}
	}
	if dir != "" {
		entries, _ := os.ReadDir(dir)
		add(entries)
	}
	entries, _ := fs.ReadDir(profiles.FS, ".")
	add(entries)
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ParseProfile decodes a profile strictly: unknown keys and wrong types are errors with the file's line.
func ParseProfile(name, file string, data []byte) (*Profile, error) {
	p := &Profile{Name: name, File: file}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(p); err != nil {
		return nil, profileError(file, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err == nil {
		setLines(&doc, p.Registers)
	}
	var errs config.Errors
	add := func(line int, format string, args ...any) {
		errs = append(errs, &config.Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	if strings.TrimSpace(p.Source) == "" {
		add(1, "source is required: name the document this register map comes from")
	}
	if len(p.Registers) == 0 {
		add(1, "registers: a profile needs at least one register")
	}
	if p.MaxRegisters < 0 || p.MaxRegisters > maxReadRegisters {
		add(1, "max_registers %d is outside 1..%d", p.MaxRegisters, maxReadRegisters)
	}
	if p.Gap < 0 {
		add(1, "gap must not be negative")
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return p, nil
}

// setLines copies each registers[i] item's line from the parsed document into the specs.
func setLines(doc *yaml.Node, specs []RegSpec) {
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return
	}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != "registers" {
			continue
		}
		for j, item := range m.Content[i+1].Content {
			if j < len(specs) {
				specs[j].Line = item.Line
			}
		}
	}
}

// profileError turns yaml.v3's "yaml: line N: msg" texts into FILE:LINE errors.
func profileError(file string, err error) error {
	var errs config.Errors
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, e := range te.Errors {
			errs = append(errs, lineError(file, e))
		}
		return errs
	}
	return config.Errors{lineError(file, strings.TrimPrefix(err.Error(), "yaml: "))}
}

func lineError(file, msg string) *config.Error {
	var line int
	if n, _ := fmt.Sscanf(msg, "line %d:", &line); n == 1 {
		if _, rest, ok := strings.Cut(msg, ":"); ok {
			msg = strings.TrimSpace(rest)
		}
	}
	if m := unknownField.FindStringSubmatch(msg); m != nil {
		msg = fmt.Sprintf("unknown key %q", m[1])
	}
	return &config.Error{File: file, Line: line, Msg: msg}
}

var unknownField = regexp.MustCompile(`^field (\S+) not found in type`)
