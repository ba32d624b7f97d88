package rules

// Placeholder persistence and commands for the first path; the full engine replaces this file.

import (
	"encoding/json"
	"errors"
	"os"
	"time"

	"github.com/rackwatch/rackwatch/agent/alarm"
)

type State struct {
	Seq    uint64
	Alarms []alarm.Alarm
}

type Command struct {
	Kind  string
	Alarm string
	By    string
	Until time.Time
}

func ParseCommand(kind string, payload []byte) (Command, error) {
	c := Command{Kind: kind}
	err := json.Unmarshal(payload, &c)
	return c, err
}

func (e *Engine) Apply(c Command, now time.Time, out []alarm.Alarm) ([]alarm.Alarm, error) {
	return out, errors.New("not supported yet")
}

func (e *Engine) Snapshot() State { return State{Seq: e.seq} }

func (e *Engine) Restore(s State) error { e.seq = s.Seq; return nil }

func SaveState(path string, s State) error {
	b, _ := json.Marshal(s)
	return os.WriteFile(path, b, 0o600)
}

func LoadState(path string) (State, error) {
	var s State
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(b, &s)
}
