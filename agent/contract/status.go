package contract

import (
	"encoding/json"
	"time"
)

// Gateway states in the status payload.
const (
	Online  = "online"
	Offline = "offline"
)

// Status is the payload of …/status: {"state":"online"|"offline","version":…,"time":…}. It is retained
// and also the connection's Last Will, so a gateway that dies says "offline" through its broker.
type Status struct {
	State   string `json:"state"`
	Version string `json:"version"`
	Time    string `json:"time"`
}

// StatusJSON is the status payload for state at t.
func StatusJSON(state, version string, t time.Time) []byte {
	b, _ := json.Marshal(Status{State: state, Version: version, Time: t.UTC().Format(TimeFormat)})
	return b
}

// At is the status's time, or the zero time when it cannot be parsed.
func (s *Status) At() time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s.Time)
	return t
}
