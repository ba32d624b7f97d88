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
// or nothing published for about `every` (the heartbeat). It also keeps every channel's latest reading,
// published or not, for the brokers that connect (or reconnect) later.
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
	value float64 // the last value published, its quality and time
	good  bool
	at    time.Time
	// The latest reading seen, published or not.
	cur     float64
	curGood bool
	curErr  error
	curFmt  *reading.Format
	curAt   time.Time
}

func (f *filter) init(p config.ReadingsPolicy, topics contract.Topics) {
	f.last = map[chanKey]*lastPub{}
	f.every, f.deadband, f.qos, f.disabled, f.topics = p.Every.D(), p.Deadband, byte(p.QoS), p.Disabled, topics
}

// heartbeatSlack is the part of `every` by which a heartbeat may come early. Readings arrive at their
// poll interval give or take scheduling jitter; with `every` equal to the poll interval, a reading that
// comes a millisecond early must not wait for the next poll (twice `every` after the last one).
const heartbeatSlack = 4 // every/4

// pass reports whether r should be published and returns its topic; either way r becomes the channel's
// current reading. The per-channel state is allocated once; afterwards a reading costs a map lookup.
func (f *filter) pass(r *reading.Reading, fm *reading.Format) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := chanKey{r.Sensor, r.Channel}
	lp := f.last[k]
	good := r.Good()
	first := lp == nil
	if first {
		lp = &lastPub{topic: f.topics.Reading(r.Sensor, string(r.Channel))}
		f.last[k] = lp
	}
	lp.cur, lp.curGood, lp.curErr, lp.curFmt, lp.curAt = r.Value, good, r.Err, fm, r.At
	if !first && good == lp.good && r.At.Sub(lp.at) < f.every-f.every/heartbeatSlack &&
		(!good || math.Abs(r.Value-lp.value) <= f.deadband) {
		return "", false
	}
	lp.value, lp.good, lp.at = r.Value, good, r.At
	return lp.topic, true
}

// current appends every channel's latest reading to dst, for a broker that just connected.
func (f *filter) current(dst []rentry) []rentry {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, lp := range f.last {
		e := rentry{topic: lp.topic, fm: lp.curFmt, value: lp.cur, good: lp.curGood, at: lp.curAt}
		if !e.good && lp.curErr != nil {
			e.err = lp.curErr.Error()
		}
		dst = append(dst, e)
	}
	return dst
}

// Reading offers one reading for publication, to be written as fm says (unit, resolution, state names;
// fm must not change afterwards). It never blocks: the reading is filtered (deadband, heartbeat) and
// queued for every broker that is connected and has no alarm backlog; a full queue sheds its oldest
// reading, counted per broker.
func (d *Delivery) Reading(r *reading.Reading, fm *reading.Format) {
	if d.filter.disabled {
		return
	}
	if fm == nil {
		fm = &noFormat
	}
	topic, ok := d.filter.pass(r, fm)
	if !ok {
		return
	}
	e := rentry{topic: topic, fm: fm, value: r.Value, good: r.Good(), at: r.At}
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

// noFormat writes a reading with no unit, to six significant digits.
var noFormat reading.Format

type rentry struct {
	topic, err string
	fm         *reading.Format
	value      float64
	good       bool
	at         time.Time
}

// appendJSON writes the contract's reading payload: the value rounded to the channel's resolution, and the
// name of a named state.
func (e *rentry) appendJSON(b []byte) []byte {
	return contract.AppendReadingAs(b, e.value, e.good, e.fm, e.err, e.at)
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

// reset empties the ring.
func (r *ring) reset() {
	r.mu.Lock()
	clear(r.buf)
	r.head, r.n = 0, 0
	r.mu.Unlock()
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
