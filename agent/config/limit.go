package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// MaxFileSize bounds a config file. A real one is a few KiB; a wrong path (a log, a disk image) must be
// refused before it is read, not parsed into hundreds of MiB on a gateway with 512 MiB.
const MaxFileSize = 1 << 20

var errTooBig = fmt.Errorf("larger than %d MiB: is this the config file?", MaxFileSize>>20)

// readFile is os.ReadFile for a config: the size is checked before reading, and at most one byte more
// than MaxFileSize is read from a file whose size stat cannot tell (a pipe, a device). Errors are
// *fs.PathError.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > MaxFileSize {
		return nil, &fs.PathError{Op: "read", Path: path, Err: errTooBig}
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, err
		}
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	if len(data) > MaxFileSize {
		return nil, &fs.PathError{Op: "read", Path: path, Err: errTooBig}
	}
	return data, nil
}
