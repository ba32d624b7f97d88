package settings

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// Secret names where a secret (a password, a community string, a routing key) is kept: a file readable
// by the service user, or an environment variable. Secrets are never written in the config itself.
type Secret struct {
	File string
	Env  string
}

// Set reports whether the secret has a source.
func (s Secret) Set() bool { return s.File != "" || s.Env != "" }

// Check returns a problem with the secret's sources (both set), without reading anything; what names the
// pair of keys in the message ("password_file or password_env").
func (s Secret) Check(what string) error {
	if s.File != "" && s.Env != "" {
		return fmt.Errorf("set %s, not both", what)
	}
	return nil
}

// maxSecret bounds what is read from a secret file: a password is short, and a wrong path (a log, a disk
// image) must not be read into memory.
const maxSecret = 64 << 10

// Read returns the secret: the file's content without its trailing line break, or the variable's value.
// It is "" with no error when no source is set.
func (s Secret) Read() (string, error) {
	switch {
	case s.File != "":
		f, err := os.Open(s.File)
		if err != nil {
			return "", err
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxSecret+1))
		if err != nil {
			return "", fmt.Errorf("%s: %w", s.File, err)
		}
		if len(b) > maxSecret {
			return "", fmt.Errorf("%s: larger than %d KiB; is this the right file?", s.File, maxSecret>>10)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	case s.Env != "":
		v, ok := os.LookupEnv(s.Env)
		if !ok {
			return "", fmt.Errorf("$%s is not set", s.Env)
		}
		return v, nil
	}
	return "", nil
}
