package pager

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// stateFile is the book saved in the state directory, with the id of the last outbox record it reflects:
// at start the pager loads it and replays the journal's later records on top, so a crash between two
// saves loses nothing.
type stateFile struct {
	Version   int                      `json:"version"`
	Watermark uint64                   `json:"watermark"`
	Saved     time.Time                `json:"saved"`
	Gateways  map[string]*gatewayTrack `json:"gateways"`
}

const stateVersion = 1

func statePath(dir string) string { return filepath.Join(dir, "pages.json") }

// saveState writes the encoded stateFile atomically: a temporary file, fsync, rename, fsync of the
// directory. A power cut leaves the old file or the new one.
func saveState(dir string, b []byte) error {
	p := statePath(dir)
	tmp := p + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("pager: save %s: %w", p, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// loadState reads the saved book. A missing file is a first start. A damaged one is moved aside (and
// reported) and the pager starts from the journal and the brokers' retained states: it never refuses to
// start over its own bookkeeping.
func loadState(dir string) (gws map[string]*gatewayTrack, watermark uint64, problem error) {
	p := statePath(dir)
	b, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		return map[string]*gatewayTrack{}, 0, nil
	}
	var st stateFile
	if err == nil {
		err = json.Unmarshal(b, &st)
		if err == nil && st.Version != stateVersion {
			err = fmt.Errorf("version %d, this pager writes %d", st.Version, stateVersion)
		}
	}
	if err != nil {
		aside := p + ".damaged-" + time.Now().UTC().Format("20060102T150405")
		os.Rename(p, aside)
		return map[string]*gatewayTrack{}, 0, fmt.Errorf("pager: %s unreadable (%v); moved to %s, rebuilding from the journal and the brokers", p, err, aside)
	}
	if st.Gateways == nil {
		st.Gateways = map[string]*gatewayTrack{}
	}
	for _, g := range st.Gateways {
		if g.Alarms == nil {
			g.Alarms = map[string]*alarmTrack{}
		}
		for k, t := range g.Alarms {
			if t == nil {
				delete(g.Alarms, k)
			}
		}
	}
	return st.Gateways, st.Watermark, nil
}
