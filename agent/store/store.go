package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/rackwatch/rackwatch/agent/rules"
)

// File is the name of the alarm state file in state_dir.
const File = "alarms.json"

// Save writes the state to path atomically: a temporary file in the same directory, fsync'd, renamed
// over the old one, and the directory fsync'd.
func Save(path string, st rules.State) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("store: save state: %w", err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("store: save state: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("store: save state: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("store: save state: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("store: save state: sync %s: %w", dir, err)
	}
	return nil
}

// Load reads a state written by Save. A missing file is a first start: the zero State and no error.
func Load(path string) (rules.State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return rules.State{}, nil
	}
	if err != nil {
		return rules.State{}, fmt.Errorf("store: load state: %w", err)
	}
	var st rules.State
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return rules.State{}, fmt.Errorf("store: load state %s: %w", path, err)
	}
	return st, nil
}
