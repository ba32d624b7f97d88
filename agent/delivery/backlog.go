package delivery

import (
	"sync"
	"time"

	"github.com/rackwatch/rackwatch/agent/journal"
	"github.com/rackwatch/rackwatch/agent/promtext"
)

// delayBounds are the buckets of the transition → broker acknowledgement histogram: a millisecond on a
// loopback broker, seconds over a slow link, up to an hour when a broker was away.
var delayBounds = []float64{0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600}

func newDelayBuckets() *promtext.Buckets { return promtext.NewBuckets(delayBounds...) }

// ageCache remembers the time of the oldest transition a broker has not acknowledged, so that /metrics
// reads the journal only when that transition changes.
type ageCache struct {
	mu     sync.Mutex
	reader *journal.Reader
	after  uint64 // the acknowledged id the cached time follows
	at     time.Time
	buf    []journal.Record
}

// oldestPending is how long the oldest transition this broker has not acknowledged has waited: 0 with no
// backlog.
func (t *target) oldestPending(now time.Time) time.Duration {
	acked := t.acked.Load()
	if acked >= t.d.j.LastID() {
		return 0
	}
	c := &t.age
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at.IsZero() || c.after != acked {
		recs, err := c.reader.Read(acked, 1, c.buf[:0])
		if err != nil || len(recs) == 0 {
			return 0
		}
		c.after, c.at = acked, recs[0].Time
		c.buf = recs[:0]
	}
	return max(now.Sub(c.at), 0)
}
