package delivery

import "time"

// BrokerState is one broker as the status page shows it.
type BrokerState struct {
	// Name is the broker's URL.
	Name      string
	Connected bool
	// Since is when it connected, or when it was lost (when it was first tried, if never connected).
	Since time.Time
	// Err is why it is not connected ("" when it is).
	Err string
	// Backlog is how many journaled transitions it has not acknowledged; Oldest how long the oldest of
	// them has waited.
	Backlog uint64
	Oldest  time.Duration
}

// Brokers returns the state of every broker alarms go to, in the config's order (the embedded broker
// last).
func (d *Delivery) Brokers() []BrokerState {
	last := d.j.LastID()
	now := time.Now()
	out := make([]BrokerState, 0, len(d.targets))
	for _, t := range d.targets {
		t.mu.Lock()
		s := BrokerState{Name: t.name, Connected: t.client != nil, Since: t.downSince}
		if s.Connected {
			s.Since = t.upSince
		} else if t.lastErr != nil {
			s.Err = t.lastErr.Error()
		}
		t.mu.Unlock()
		s.Backlog = t.pending(last)
		if s.Backlog > 0 {
			s.Oldest = t.oldestPending(now)
		}
		out = append(out, s)
	}
	return out
}

// JournalState is the journal's health as the status page shows it.
type JournalState struct {
	// Err says why it cannot write to disk ("" when it can); Memory counts the transitions held in memory
	// meanwhile.
	Err             string
	Memory          int
	Bytes, MaxBytes int64
	Segments        int
}

// Journal returns the journal's health and size.
func (d *Delivery) Journal() JournalState {
	st := d.j.Stats()
	s := JournalState{Memory: st.Memory, Bytes: st.Bytes, MaxBytes: int64(d.cfg.Journal.MaxSize), Segments: st.Segments}
	if err := d.j.Err(); err != nil {
		s.Err = err.Error()
	}
	return s
}
