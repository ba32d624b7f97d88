package delivery

import (
	"math"
	"sync"
	"time"

	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/reading"
)

// filter decides which readings are worth publishing: a change beyond the deadband, a change of quality,
// or nothing published for `every`.
type filter struct {
	mu       sync.Mutex
	last     map[chanKey]*lastPub
	every    time.Duration
	deadband float64
	qos      byte
	disabled bool
	topics   contract.Topics
}

type chanKey struct {
	sensor string
	ch     reading.Channel
}

type lastPub struct {
	topic string
	value float64
	good  bool
	at    time.Time
}

func (f *filter) init(p config.ReadingsPolicy, topics contract.Topics) {
	f.last = map[chanKey]*lastPub{}
	f.every, f.deadband, f.qos, f.disabled, f.topics = p.Every.D(), p.Deadband, byte(p.QoS), p.Disabled, topics
}

// pass reports whether r should be published and returns its topic. The per-channel state is allocated
// once; afterwards a reading costs a map lookup.
func (f *filter) pass(r *reading.Reading) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := chanKey{r.Sensor, r.Channel}
	lp := f.last[k]
	if lp == nil {
		lp = &lastPub{topic: f.topics.Reading(r.Sensor, string(r.Channel))}
		f.last[k] = lp
	} else if good := r.Good(); good == lp.good && r.At.Sub(lp.at) < f.every &&
		(!good || math.Abs(r.Value-lp.value) <= f.deadband) {
		return "", false
	}
	lp.value, lp.good, lp.at = r.Value, r.Good(), r.At
	return lp.topic, true
}

// Reading offers one reading for publication. It never blocks: the reading is filtered (deadband,
// heartbeat) and queued for every broker that is connected and has no alarm backlog; a full queue sheds
// its oldest reading, counted per broker.
func (d *Delivery) Reading(r *reading.Reading, unit string) {
	if d.filter.disabled {
		return
	}
	topic, ok := d.filter.pass(r)
	if !ok {
		return
	}
	e := rentry{topic: topic, unit: unit, value: r.Value, good: r.Good(), at: r.At}
	if !e.good {
		e.err = r.ErrText()
	}
	for _, t := range d.targets {
		t.mu.Lock()
		live := t.client != nil && !t.catchingUp
		t.mu.Unlock()
		if !live {
			t.shed.Add(1)
			continue
		}
		if t.ring.push(e) {
			t.shed.Add(1)
		}
	}
}

type rentry struct {
	topic, unit, err string
	value            float64
	good             bool
	at               time.Time
}

// appendJSON writes the contract's reading payload.
func (e *rentry) appendJSON(b []byte) []byte {
	return contract.AppendReading(b, e.value, e.good, e.unit, e.err, e.at)
}

// ring is a bounded FIFO of readings that overwrites its oldest entry when full.
type ring struct {
	mu      sync.Mutex
	buf     []rentry
	head, n int
	ready   chan struct{}
}

func (r *ring) init(size int) {
	r.buf = make([]rentry, size)
	r.ready = make(chan struct{}, 1)
}

// push adds e and reports whether an older entry was shed to make room.
func (r *ring) push(e rentry) (shed bool) {
	r.mu.Lock()
	if r.n == len(r.buf) {
		r.head = (r.head + 1) % len(r.buf)
		r.n--
		shed = true
	}
	r.buf[(r.head+r.n)%len(r.buf)] = e
	r.n++
	r.mu.Unlock()
	select {
	case r.ready <- struct{}{}:
	default:
	}
	return shed
}

func (r *ring) pop() (rentry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == 0 {
		return rentry{}, false
	}
	e := r.buf[r.head]
	r.buf[r.head] = rentry{}
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return e, true
}
