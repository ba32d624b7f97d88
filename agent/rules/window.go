package rules

import "time"

// window fits a straight line to the good readings of the last `span` by ordinary least squares, in
// bounded memory whatever the reading rate.
//
// Readings are summed into buckets (count, Σt, Σv, Σt², Σtv, with t in seconds from the bucket's start),
// so the fit over whole buckets is exactly the least-squares fit over every raw reading in them: a sensor
// polled every second and one pushing 50 events a second use the same memory, and one noisy sample among
// many moves the slope by its share only. Buckets are sized from the window and the sensor's expected
// interval; only the window's edge is quantised to a bucket.
type window struct {
	b     []bucket
	head  int // index of the newest bucket
	n     int // buckets in use
	width int64
	span  int64
	last  int64 // time of the newest reading
}

type bucket struct {
	t0               int64 // ns since the engine's epoch of the bucket's first reading
	lastAt           int64 // ns since the epoch of its last reading
	n                float64
	st, sv, stt, stv float64
}

// Buckets per window: enough that the window's edge is sharp, few enough that a rule over 100 sensors
// stays in a few hundred KiB.
const (
	minBuckets = 8
	maxBuckets = 64
)

// minPoints is the fewest readings a fit needs: two points always fit a line exactly, so a third is the
// first that can disagree.
const minPoints = 3

func newWindow(span, every time.Duration) *window {
	n := maxBuckets
	if every > 0 {
		n = int(span/every) + 2
	}
	n = max(minBuckets, min(maxBuckets, n))
	// n-2 bucket widths cover the window; the two spare buckets hold the one being filled and the one
	// straddling the window's start.
	w := int64(span) / int64(n-2)
	if w < 1 {
		w = 1
	}
	return &window{b: make([]bucket, n), width: w, span: int64(span)}
}

// add records a reading at t ns since the epoch. Readings must come in time order; an older one (a
// driver's clock stepping back) is ignored rather than corrupting the fit.
func (w *window) add(t int64, v float64) {
	if w.n > 0 && t < w.last {
		return
	}
	w.last = t
	if w.n > 0 {
		cur := &w.b[w.head]
		if t-cur.t0 < w.width {
			x := float64(t-cur.t0) / 1e9
			cur.n++
			cur.st += x
			cur.sv += v
			cur.stt += x * x
			cur.stv += x * v
			cur.lastAt = t
			return
		}
		w.head = (w.head + 1) % len(w.b)
	}
	if w.n < len(w.b) {
		w.n++
	}
	w.b[w.head] = bucket{t0: t, lastAt: t, n: 1, sv: v}
}

// reset forgets every reading (a sensor that went silent for longer than the window starts afresh anyway,
// this is for a restored engine).
func (w *window) reset() { w.n, w.head, w.last = 0, 0, 0 }

// slope returns the fitted rate in units per second over the readings no older than the window at now.
// ok is false when the window holds too few readings, or they cover less than half of it, to say.
func (w *window) slope(now int64) (rate float64, ok bool) {
	var n, st, sv, stt, stv float64
	var first, last int64
	seen := false
	start := now - w.span
	for i := 0; i < w.n; i++ {
		b := &w.b[(w.head-i+len(w.b))%len(w.b)]
		if b.t0 < start {
			break
		}
		// Shift the bucket's sums from its own origin to now's: t' = t + d.
		d := float64(b.t0-now) / 1e9
		n += b.n
		st += b.st + b.n*d
		sv += b.sv
		stt += b.stt + 2*d*b.st + b.n*d*d
		stv += b.stv + d*b.sv
		first = b.t0
		if !seen {
			last, seen = b.lastAt, true
		}
	}
	if !seen || n < minPoints || last-first < w.span/2 {
		return 0, false
	}
	den := n*stt - st*st
	if den <= 0 {
		return 0, false
	}
	return (n*stv - st*sv) / den, true
}
