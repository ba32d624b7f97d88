package operator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
)

// NoncesFile is the nonce store's file in state_dir.
const NoncesFile = "command-nonces.json"

// MaxNonces bounds the nonces remembered. When more commands than this arrive within the time window, the
// oldest is forgotten and the floor rises to its time: a command signed before the floor is refused as
// too old, so forgetting never lets a replay through.
const MaxNonces = 1024

// Nonces remembers the nonce of every command taken within the time window, on disk, so that a command
// replayed is refused even after a restart. It is safe for concurrent use.
type Nonces struct {
	path string
	max  int

	mu    sync.Mutex
	floor time.Time // commands signed at or before the floor are refused
	seen  map[nonceKey]time.Time
}

type nonceKey struct{ op, nonce string }

type noncesFile struct {
	Format int          `json:"format"`
	Floor  time.Time    `json:"floor,omitzero"`
	Seen   []nonceEntry `json:"seen"`
}

type nonceEntry struct {
	Operator string    `json:"operator"`
	Nonce    string    `json:"nonce"`
	Time     time.Time `json:"time"`
}

// OpenNonces loads the nonce store at path. A missing store is a first start: nothing was taken before. A
// damaged one is moved aside and started afresh with its floor at now: every command signed before this
// start is then refused, since the gateway can no longer tell it from a replay. note says so for the log
// ("" when the store was read or is new).
func OpenNonces(path string, now time.Time) (n *Nonces, note string, err error) {
	n = &Nonces{path: path, max: MaxNonces, seen: map[nonceKey]time.Time{}}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return n, "", nil
	case err != nil:
		return nil, "", fmt.Errorf("command nonces: %w", err)
	}
	var f noncesFile
	if err := json.Unmarshal(b, &f); err != nil || f.Format != 1 || !validEntries(f.Seen) {
		aside := path + ".damaged"
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, "", fmt.Errorf("command nonces: %s is damaged and cannot be moved aside: %w", path, rerr)
		}
		n.floor = now
		return n, fmt.Sprintf("command nonces: %s was damaged (moved to %s); commands signed before now are refused", path, aside), nil
	}
	n.floor = f.Floor
	for _, e := range f.Seen {
		n.seen[nonceKey{e.Operator, e.Nonce}] = e.Time
	}
	return n, "", nil
}

func validEntries(es []nonceEntry) bool {
	if len(es) > MaxNonces {
		return false
	}
	for _, e := range es {
		if !contract.ValidOperator(e.Operator) || e.Nonce == "" || len(e.Nonce) > 64 {
			return false
		}
	}
	return true
}

// take records the nonce of a command signed at t, received at now, and saves the store; it refuses a
// nonce seen before (replayed) and a command signed at or before the floor. Entries older than the window
// are forgotten first (the window check refuses their commands anyway), raising the floor to them.
func (n *Nonces) take(op, nonce string, t, now time.Time, window time.Duration) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	k := nonceKey{op, nonce}
	if _, dup := n.seen[k]; dup {
		return contract.Refuse(contract.ReasonReplayed, "replayed: %s's command with nonce %s was taken before", op, nonce)
	}
	if !t.After(n.floor) {
		return contract.Refuse(contract.ReasonOutsideWindow, "signed at %s, before %s, when this gateway's memory of commands begins (a restart without it, or a flood of commands): it cannot be told from a replay; sign it again",
			t.UTC().Format(contract.TimeFormat), n.floor.UTC().Format(contract.TimeFormat))
	}
	for key, at := range n.seen {
		if now.Sub(at) > window {
			n.forget(key, at)
		}
	}
	for len(n.seen) >= n.max {
		var oldest nonceKey
		var ot time.Time
		for key, at := range n.seen {
			if ot.IsZero() || at.Before(ot) {
				oldest, ot = key, at
			}
		}
		n.forget(oldest, ot)
	}
	n.seen[k] = t
	if err := n.save(); err != nil {
		// Not durable: after a restart it could be replayed. Refuse it; it stays remembered in memory.
		return contract.Refuse(contract.ReasonFailed, "the command's nonce cannot be recorded in state_dir (%v); it was not carried out", err)
	}
	return nil
}

func (n *Nonces) forget(k nonceKey, at time.Time) {
	delete(n.seen, k)
	if at.After(n.floor) {
		n.floor = at
	}
}

// Len is the number of nonces remembered.
func (n *Nonces) Len() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.seen)
}

// save writes the store atomically: a temporary file, fsync'd, renamed over the old one, the directory
// fsync'd.
func (n *Nonces) save() error {
	f := noncesFile{Format: 1, Floor: n.floor, Seen: make([]nonceEntry, 0, len(n.seen))}
	for k, at := range n.seen {
		f.Seen = append(f.Seen, nonceEntry{Operator: k.op, Nonce: k.nonce, Time: at})
	}
	slices.SortFunc(f.Seen, func(a, b nonceEntry) int { return a.Time.Compare(b.Time) })
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	dir := filepath.Dir(n.path)
	tf, err := os.CreateTemp(dir, "."+filepath.Base(n.path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := tf.Name()
	_, err = tf.Write(append(b, '\n'))
	if err == nil {
		err = tf.Sync()
	}
	if cerr := tf.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o640)
	}
	if err == nil {
		err = os.Rename(tmp, n.path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
