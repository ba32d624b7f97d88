package operator

import (
	"crypto/ed25519"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// Entry is one operator as the config lists it (operators: - {name, public_key_file}).
type Entry struct {
	Name string
	File string
	// Where the config names it, for errors: the config file and line.
	ConfigFile string
	Line       int
}

// Dir is an operators_dir: every NAME.pub in it is operator NAME.
type Dir struct {
	Path       string
	ConfigFile string
	Line       int
}

// Keyring is the operators a gateway takes commands from, by name.
type Keyring struct {
	keys  map[string]ed25519.PublicKey
	files map[string]string
}

// Operator is one operator of a keyring.
type Operator struct {
	Name, File string
	Key        ed25519.PublicKey
}

// Load reads the operators' public keys: every entry's file, and every NAME.pub in dir (when dir.Path is
// set). Files that cannot be read or hold no Ed25519 public key, and a name listed twice, are errors at
// the config line that names them; a private key in dir, a file whose name is no operator name and one
// key under two names are warnings.
func Load(entries []Entry, dir Dir) (k *Keyring, warns settings.Errors, err error) {
	k = &Keyring{keys: map[string]ed25519.PublicKey{}, files: map[string]string{}}
	var errs settings.Errors
	at := map[string]string{}
	add := func(name, file, cfg string, line int) {
		if prev, dup := at[name]; dup {
			errs.Add(cfg, line, "operator %q is listed twice (%s and %s)", name, prev, file)
			return
		}
		at[name] = file
		pk, err := ReadPublicKey(file)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			errs.Add(cfg, line, "operator %s: public_key_file %s: %v", name, file, err)
			return
		}
		for other, ok := range k.keys {
			if ok.Equal(pk) {
				warns.Add(cfg, line, "warning: operator %s has the same key as operator %s: their commands cannot be told apart; give each operator a key of their own", name, other)
			}
		}
		k.keys[name], k.files[name] = pk, file
	}
	for _, e := range entries {
		if !contract.ValidOperator(e.Name) {
			errs.Add(e.ConfigFile, e.Line, "operator name %q: 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-', not starting with '.' or '-'", e.Name)
			continue
		}
		add(e.Name, e.File, e.ConfigFile, e.Line)
	}
	if dir.Path != "" {
		des, err := os.ReadDir(dir.Path)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			errs.Add(dir.ConfigFile, dir.Line, "operators_dir %s: %v", dir.Path, err)
		}
		for _, de := range des {
			n := de.Name()
			switch {
			case strings.HasSuffix(n, PrivateSuffix):
				warns.Add(dir.ConfigFile, dir.Line, "warning: operators_dir %s holds %s, a private key: it belongs with its operator only; remove it from the gateway (and make that operator a new key)", dir.Path, n)
			case !strings.HasSuffix(n, PublicSuffix) || de.IsDir():
			case !contract.ValidOperator(strings.TrimSuffix(n, PublicSuffix)):
				warns.Add(dir.ConfigFile, dir.Line, "warning: operators_dir %s: %s is ignored: its name is not an operator name (A-Z, a-z, 0-9, '.', '_', '-')", dir.Path, n)
			default:
				add(strings.TrimSuffix(n, PublicSuffix), filepath.Join(dir.Path, n), dir.ConfigFile, dir.Line)
			}
		}
	}
	if len(errs) > 0 {
		errs.Sort()
		return nil, warns, errs
	}
	return k, warns, nil
}

// Len is the number of operators.
func (k *Keyring) Len() int {
	if k == nil {
		return 0
	}
	return len(k.keys)
}

// Key is the public key of the named operator.
func (k *Keyring) Key(name string) (ed25519.PublicKey, bool) {
	if k == nil {
		return nil, false
	}
	pk, ok := k.keys[name]
	return pk, ok
}

// Operators lists the operators by name.
func (k *Keyring) Operators() []Operator {
	if k == nil {
		return nil
	}
	out := make([]Operator, 0, len(k.keys))
	for n, pk := range k.keys {
		out = append(out, Operator{Name: n, File: k.files[n], Key: pk})
	}
	slices.SortFunc(out, func(a, b Operator) int { return strings.Compare(a.Name, b.Name) })
	return out
}
