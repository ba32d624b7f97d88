package modbus

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rackwatch/rackwatch/agent/settings"
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
func LoadProfile(name, dir string, parse Parser) (*Profile, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return nil, fmt.Errorf("profile %q: use a bare name such as ups; put your own files in profile_dir", name)
	}
	if dir != "" {
		path := filepath.Join(dir, name+".yaml")
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			return ParseProfile(name, path, data, parse)
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
	return ParseProfile(name, "profiles/"+name+".yaml (built in)", data, parse)
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

// Parser reads a profile file into options (agent/config.ParseOptions, or Options.Parse of a sensor's
// options): the same strict YAML decoding as the rest of the config, with line numbers.
type Parser func(file string, data []byte) (settings.Options, error)

// ParseProfile decodes a profile strictly: unknown keys and wrong types are errors with the file's line.
func ParseProfile(name, file string, data []byte, parse Parser) (*Profile, error) {
	p := &Profile{Name: name, File: file}
	o, err := parse(file, data)
	if err != nil {
		return nil, err
	}
	if err := o.Decode(p); err != nil {
		return nil, err
	}
	var errs settings.Errors
	add := func(line int, format string, args ...any) { errs.Add(file, line, format, args...) }
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
