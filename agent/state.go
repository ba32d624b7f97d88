package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"time"

	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/delivery"
	"github.com/rackwatch/rackwatch/agent/journal"
	"github.com/rackwatch/rackwatch/agent/rules"
	"github.com/rackwatch/rackwatch/agent/store"
)

// The gateway's own alarms (rules/system.go).
var (
	// storageAlarm is active while the gateway cannot write its state_dir: transitions are then delivered
	// from memory, and a restart would lose those not yet written. The central side sees a gateway that
	// can no longer keep its promise.
	storageAlarm = rules.SystemAlarm{What: "storage", Severity: contract.Critical}
	// rebuiltAlarm says the alarm state file was damaged and the state was rebuilt from the journal; it
	// stays until acknowledged.
	rebuiltAlarm = rules.SystemAlarm{What: "state-rebuilt", Severity: contract.Warning, Notice: true}
)

// errRestore marks a state the engine refused to restore.
var errRestore = errors.New("alarm state")

// bootState is the alarm state the agent starts from, and how it was obtained.
type bootState struct {
	path, seqPath string
	state         rules.State
	// rebuilt says why the state was rebuilt from the journal; "" when the state file was used.
	rebuilt string
	// save asks for the state to be saved at once (rebuilt, a seq found ahead of the file, format 1).
	save bool
	// fromJournal is the journal's view: the latest transition of each alarm and the highest seq.
	latest map[string]contract.Alarm
}

// loadState reads the alarm state of the gateway's state_dir: alarms.json, the seq file and the journal.
// It refuses a state_dir that belongs to another gateway, and a state or journal written by a newer
// rackwatch. A damaged alarms.json is moved aside and the state rebuilt from the journal. The seq to go on
// from is the highest of the three, so that no seq is handed out twice whatever the moment of a crash.
func loadState(cfg *config.Config, log *slog.Logger) (*bootState, error) {
	dir := cfg.Gateway.StateDir
	b := &bootState{path: filepath.Join(dir, store.File), seqPath: filepath.Join(dir, store.SeqFile)}
	saved, err := store.Load(b.path)
	damaged := ""
	switch {
	case errors.Is(err, store.ErrNewerFormat):
		return nil, fmt.Errorf("alarm state %s: %w. Run the rackwatch that wrote it, or move the file away: the state is then rebuilt from the journal", b.path, err)
	case err != nil:
		damaged = err.Error()
	case saved.Format < store.FormatVersion:
		b.save = true // records the gateway and the format from now on
	}

	// The journal: the latest transition of every alarm, the highest seq, and whose transitions they are.
	b.latest = map[string]contract.Alarm{}
	var journalSeq uint64
	gateways := map[string]bool{}
	undecodable := 0
	_, err = journal.Scan(journal.OS, delivery.JournalDir(dir), func(r *journal.Record) error {
		if contract.IsActionKey(r.Key) {
			// An action event: no seq, no alarm state; only whose it is.
			var ev struct {
				Gateway string `json:"gateway"`
			}
			if json.Unmarshal(r.Data, &ev) == nil && ev.Gateway != "" && len(gateways) < 8 {
				gateways[ev.Gateway] = true
			}
			return nil
		}
		var a contract.Alarm
		if json.Unmarshal(r.Data, &a) != nil {
			undecodable++
			return nil
		}
		journalSeq = max(journalSeq, a.Seq)
		if a.Gateway != "" && len(gateways) < 8 {
			gateways[a.Gateway] = true
		}
		if prev, ok := b.latest[r.Key]; !ok || a.Seq >= prev.Seq {
			b.latest[r.Key] = a
		}
		return nil
	})
	if errors.Is(err, journal.ErrNewerFormat) {
		return nil, err
	}
	if err != nil {
		log.Error("reading the journal at start; going on without it", "err", err)
	}
	if undecodable > 0 {
		log.Warn("journal: transitions that are not alarm objects were ignored at start", "count", undecodable)
	}

	// A state_dir belongs to one gateway: another one's alarms must not be published under our topics.
	owner := saved.Gateway
	for gw := range gateways {
		if owner == "" {
			owner = gw
		}
		if gw != cfg.Gateway.ID {
			owner = gw
			break
		}
	}
	if owner != "" && owner != cfg.Gateway.ID {
		return nil, fmt.Errorf("state_dir %s belongs to gateway %q, not %q: its alarm state and journal are that gateway's, and would be "+
			"published as this one's. Give this gateway a state_dir of its own, or, to start afresh here, stop rackwatch and move "+
			"the directory away (mv %s %s.%s)", dir, owner, cfg.Gateway.ID, dir, filepath.Clean(dir), owner)
	}

	b.state = saved.State
	if damaged != "" {
		if err := b.rebuild(damaged, log); err != nil {
			return nil, err
		}
	}
	fileSeq, err := store.LoadSeq(b.seqPath)
	if err != nil {
		log.Warn("ignoring a damaged seq file", "file", b.seqPath, "err", err)
	}
	if seq := max(journalSeq, fileSeq); seq > b.state.Seq {
		// A crash between the journal's write and the state's save, or a state save that failed: the
		// transitions were published, their seqs are taken.
		log.Warn("alarm state is behind the journal; going on from the journal's last seq", "state_seq", b.state.Seq, "seq", seq)
		b.state.Seq = seq
		b.save = true
	}
	return b, nil
}

// rebuild moves a damaged state file aside and rebuilds the state from the journal's latest transition of
// each alarm. why says what was wrong with the file.
func (b *bootState) rebuild(why string, log *slog.Logger) error {
	to, err := store.MoveAside(b.path, time.Now())
	if err != nil {
		log.Error("cannot move the damaged alarm state aside; rebuilding it anyway", "err", err)
		to = "(could not be moved: " + err.Error() + ")"
	}
	st := rules.State{Seq: b.state.Seq}
	keys := make([]string, 0, len(b.latest))
	for k := range b.latest {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		a := b.latest[k]
		st.Seq = max(st.Seq, a.Seq)
		if a.Key != k || !contract.ValidKey(k) || (a.State != contract.Active && a.State != contract.Cleared) {
			continue
		}
		if a.State == contract.Cleared && a.Acked && a.ShelvedUntil == nil {
			st.Normal = append(st.Normal, k)
			continue
		}
		st.Alarms = append(st.Alarms, a)
	}
	b.state = st
	b.save = true
	b.rebuilt = fmt.Sprintf("alarm state rebuilt from the journal: %s was damaged (%s) and was moved to %s; %d alarms not back to normal were restored. "+
		"Alarms whose last transition had already left the journal are not known: check the dashboards' retained states. Acknowledge to clear this.",
		filepath.Base(b.path), why, to, len(st.Alarms))
	log.Error("alarm state file damaged; rebuilt from the journal", "file", b.path, "moved_to", to, "reason", why, "alarms", len(st.Alarms))
	return nil
}
