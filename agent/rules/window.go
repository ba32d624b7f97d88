package rules

import "time"

// window estimates the rate of change of the good readings of the last `span`, in bounded memory and
// bounded time per reading, whatever the reading rate, and robustly: one wild sample, a few of them, or a
// step (a sensor recalibrated, a probe moved) is not a rate of rise.
//
// Readings are averaged into buckets (count, Σt, Σv), sized from the window and the sensor's expected
// interval. The rate is the median of the slopes between bucket means a fixed lag apart (a third of the
// live buckets). A spike moves the two slopes that touch its bucket; a step moves the lag's worth of
// slopes that straddle it, fewer than half of them; a real rise moves them all. Averaging within a bucket
// and the lag of several buckets keep a sensor's resolution (0.0625 °C) from reading as a rate.
type window struct {
	b    []bucket
	head int // index of the newest bucket
	tail int // index of the oldest live bucket
	n    int // live buckets
	// width is a bucket's span; span the window's.
	width, span int64
	last        int64     // time of the newest reading
	mt, mv      []float64 // scratch: bucket mean times and values, oldest first
	sl          []float64 // scratch: slopes
	// The estimate is recomputed when a bucket opens or leaves the window, not on every reading: a
	// reading that only adds to the newest bucket leaves the median as it was (to within that bucket's
	// share), and a fast sensor then costs a fraction of the work.
	changed  bool
	cached   float64
	cachedOK bool
}

type bucket struct {
	t0     int64 // ns since the engine's epoch of the bucket's first reading
	lastAt int64 // ns since the epoch of its last reading
	n      float64
	st, sv float64 // Σ(t − t0) in seconds, Σv
}

// Buckets per window: enough that the window's edge is sharp and a median has votes, few enough that the
// median costs a few hundred nanoseconds and a rule over 100 sensors stays small.
const (
	minBuckets = 8
	maxBuckets = 24
)

// minPoints is the fewest buckets a rate needs: three slopes, so that one bad bucket is outvoted.
const minPoints = 4

func newWindow(span, every time.Duration) *window {
	n := maxBuckets
	if every > 0 {
		n = int(span/every) + 2
	}
	n = max(minBuckets, min(maxBuckets, n))
	// n-2 bucket widths cover the window; the two spare buckets hold the one being filled and the one
	// straddling the window's start.
	w := int64(span) / int64(n-2)
	if every > 0 && int(span/every)+2 <= maxBuckets {
		// Not more readings than buckets: half an interval wide, so that readings on time each get their
		// own bucket (the median's votes) rather than two sharing one now and then.
		w = min(w, int64(every)/2)
	}
	if w < 1 {
		w = 1
	}
	return &window{b: make([]bucket, n), width: w, span: int64(span),
		mt: make([]float64, n), mv: make([]float64, n), sl: make([]float64, n)}
}

// add records a reading at t ns since the epoch. Readings must come in time order; an older one (a
// driver's clock stepping back) is ignored rather than corrupting the estimate.
func (w *window) add(t int64, v float64) {
	if w.n > 0 && t < w.last {
		return
	}
	w.last = t
	if w.n > 0 {
		cur := &w.b[w.head]
		if t-cur.t0 < w.width {
			cur.n++
			cur.st += float64(t-cur.t0) / 1e9
			cur.sv += v
			cur.lastAt = t
			return
		}
		if w.n == len(w.b) {
			w.tail = (w.tail + 1) % len(w.b)
			w.n--
		}
		w.head = (w.head + 1) % len(w.b)
	} else {
		w.head, w.tail = 0, 0
	}
	w.changed = true
	w.n++
	w.b[w.head] = bucket{t0: t, lastAt: t, n: 1, sv: v}
}

// rate returns the robust rate in units per second over the readings no older than the window at now.
// ok is false when the window holds too few buckets, or they cover less than half of it, to say.
func (w *window) rate(now int64) (rate float64, ok bool) {
	start := now - w.span
	for w.n > 0 && w.b[w.tail].t0 < start {
		w.tail = (w.tail + 1) % len(w.b)
		w.n--
		w.changed = true
	}
	if !w.changed {
		return w.cached, w.cachedOK
	}
	w.changed = false
	w.cached, w.cachedOK = w.estimate(start)
	return w.cached, w.cachedOK
}

func (w *window) estimate(start int64) (rate float64, ok bool) {
	if w.n < minPoints || w.b[w.head].lastAt-w.b[w.tail].t0 < w.span/2 {
		return 0, false
	}
	for i, j := 0, w.tail; i < w.n; i, j = i+1, (j+1)%len(w.b) {
		b := &w.b[j]
		w.mt[i] = float64(b.t0-start)/1e9 + b.st/b.n
		w.mv[i] = b.sv / b.n
	}
	lag := max(1, (w.n-1)/3)
	m := 0
	for i := 0; i+lag < w.n; i++ {
		dt := w.mt[i+lag] - w.mt[i]
		if dt <= 0 {
			continue
		}
		w.sl[m] = (w.mv[i+lag] - w.mv[i]) / dt
		m++
	}
	if m < minPoints-1 {
		return 0, false
	}
	return median(w.sl[:m]), true
}

// median sorts xs in place (insertion sort: at most a few dozen values) and returns its median.
func median(xs []float64) float64 {
	for i := 1; i < len(xs); i++ {
		for j := i; j > 0 && xs[j] < xs[j-1]; j-- {
			xs[j], xs[j-1] = xs[j-1], xs[j]
		}
	}
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}
