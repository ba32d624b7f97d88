package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/rackwatch/rackwatch/agent/rules"
)

// File is the name of the alarm state file in state_dir.
const File = "alarms.json"

// FormatVersion is the layout of alarms.json this code writes, and the newest it reads.
const FormatVersion = 2

// MaxSize bounds the alarm state file read at start: thousands of alarms fit in far less.
const MaxSize = 16 << 20

// Errors of Load.
var (
	// ErrDamaged: the file exists but cannot be read as an alarm state (empty, cut short, not JSON).
	ErrDamaged = errors.New("alarm state file is damaged")
	// ErrNewerFormat: the file was written by a newer rackwatch.
	ErrNewerFormat = errors.New("alarm state file was written by a newer rackwatch")
)

// Saved is what alarms.json holds.
type Saved struct {
	// Format is the file's layout version (1 for a file written before versions were recorded).
	Format int
	// Gateway is the id of the gateway the state directory belongs to; "" when the file does not say
	// (a format 1 file without alarms).
	Gateway string
	State   rules.State
}

// file is the JSON of alarms.json: its version, its gateway, and the engine's state beside them.
type file struct {
	Format  int    `json:"format"`
	Gateway string `json:"gateway"`
	rules.State
}

// Save writes the state of gateway to path atomically: a temporary file in the same directory, fsync'd,
// renamed over the old one, and the directory fsync'd.
func Save(path, gateway string, st rules.State) error {
	b, err := json.Marshal(file{Format: FormatVersion, Gateway: gateway, State: st})
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
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("store: save state: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// Load reads a state written by Save (or by a rackwatch of format 1). A missing file is a first start: the
// zero Saved and no error. A file that cannot be read as a state is ErrDamaged, one of a newer format
// ErrNewerFormat; any other error is the file system's.
func Load(path string) (Saved, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Saved{Format: FormatVersion}, nil
	}
	if err != nil {
		return Saved{}, fmt.Errorf("store: load state: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return Saved{}, fmt.Errorf("store: load state %s: %w", path, err)
	}
	if len(b) > MaxSize {
		return Saved{}, fmt.Errorf("store: %s: %w: larger than %d bytes", path, ErrDamaged, MaxSize)
	}
	sv, err := Parse(b)
	if err != nil {
		return Saved{}, fmt.Errorf("store: %s: %w", path, err)
	}
	return sv, nil
}

// Parse decodes the bytes of alarms.json; see Load.
func Parse(b []byte) (Saved, error) {
	// The version first, leniently, so that a newer file is named as such rather than called damaged.
	var v struct {
		Format json.RawMessage `json:"format"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return Saved{}, fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	format := 1
	if v.Format != nil {
		n, err := strconv.Atoi(string(v.Format))
		if err != nil || n < 1 {
			return Saved{}, fmt.Errorf("%w: format %s", ErrDamaged, v.Format)
		}
		format = n
	}
	if format > FormatVersion {
		return Saved{}, fmt.Errorf("%w (format %d; this rackwatch reads up to format %d)", ErrNewerFormat, format, FormatVersion)
	}
	var fl file
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fl); err != nil {
		return Saved{}, fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	if dec.More() {
		return Saved{}, fmt.Errorf("%w: data after the JSON object", ErrDamaged)
	}
	sv := Saved{Format: format, Gateway: fl.Gateway, State: fl.State}
	if format == 1 {
		// Format 1 did not record its gateway; its alarms did.
		for _, a := range fl.Alarms {
			if a.Gateway != "" {
				sv.Gateway = a.Gateway
				break
			}
		}
	}
	return sv, nil
}

// MoveAside renames a damaged state file out of the way, to <path>.damaged-<UTC time>, and returns the new
// name, so that it can be looked at later and the agent can start with a rebuilt state.
func MoveAside(path string, now time.Time) (string, error) {
	base := path + ".damaged-" + now.UTC().Format("20060102T150405Z")
	to := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(to); errors.Is(err, fs.ErrNotExist) {
			break
		}
		to = base + "-" + strconv.Itoa(i)
	}
	if err := os.Rename(path, to); err != nil {
		return "", fmt.Errorf("store: move the damaged state aside: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return to, fmt.Errorf("store: move the damaged state aside: %w", err)
	}
	return to, nil
}

// SeqFile is the name of the file holding the last seq handed out, in state_dir.
const SeqFile = "alarms.seq"

// seqLen is the size of alarms.seq: "%020d %08x\n", the seq and the CRC-32C of its digits.
const seqLen = 30

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func encodeSeq(seq uint64) []byte {
	d := fmt.Sprintf("%020d", seq)
	return []byte(fmt.Sprintf("%s %08x\n", d, crc32.Checksum([]byte(d), castagnoli)))
}

// SaveSeq records seq in path, rewriting the file's bytes in place and fsyncing them: on a full disk this
// still works once the file exists (the agent writes it at start, when the disk has room).
func SaveSeq(path string, seq uint64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("store: save seq: %w", err)
	}
	_, err = f.WriteAt(encodeSeq(seq), 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("store: save seq: %w", err)
	}
	return nil
}

// LoadSeq returns the seq recorded in path: 0 when the file is missing, an error when it is damaged.
func LoadSeq(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: load seq: %w", err)
	}
	return ParseSeq(b)
}

// ParseSeq decodes the bytes of alarms.seq.
func ParseSeq(b []byte) (uint64, error) {
	if len(b) != seqLen || b[20] != ' ' || b[29] != '\n' {
		return 0, fmt.Errorf("store: %s: %w", SeqFile, ErrDamaged)
	}
	seq, err := strconv.ParseUint(string(b[:20]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("store: %s: %w", SeqFile, ErrDamaged)
	}
	sum, err := strconv.ParseUint(string(b[21:29]), 16, 32)
	if err != nil || uint32(sum) != crc32.Checksum(b[:20], castagnoli) {
		return 0, fmt.Errorf("store: %s: %w: checksum", SeqFile, ErrDamaged)
	}
	return seq, nil
}
