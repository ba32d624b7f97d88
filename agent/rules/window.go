package rules

import "time"

// window fits a straight line to the good readings of the last `span` by ordinary least squares, in
// bounded memory and constant time per reading, whatever the reading rate.
//
// Readings are summed into buckets (count, Σt, Σv, Σt², Σtv, with t in seconds from the bucket's start),
// so the fit over whole buckets is exactly the least-squares fit over every raw reading in them: a sensor
// polled every second and one pushing 50 events a second use the same memory, and one noisy sample among
// many moves the slope by its share only. Buckets are sized from the window and the sensor's expected
// interval; only the window's edge is quantised to a bucket.
//
// The sums over the live buckets are also kept as a running total (relative to a reference time that is
// moved up every few windows, recomputing the total from the buckets, so rounding cannot build up), so a
// fit costs O(1) rather than a pass over the buckets.
type window struct {
	b     []bucket
	head  int // index of the newest bucket
	tail  int // index of the oldest live bucket
	n     int // live buckets
	width int64
	span  int64
	last  int64 // time of the newest reading
	ref   int64 // time the running total's t are measured from
	total sums
}

type sums struct{ n, st, sv, stt, stv float64 }

// shifted returns the sums with every t moved by d seconds (t' = t + d).
func (s sums) shifted(d float64) sums {
	return sums{s.n, s.st + s.n*d, s.sv, s.stt + 2*d*s.st + s.n*d*d, s.stv + d*s.sv}
}

func (s *sums) add(o sums) {
	s.n += o.n
	s.st += o.st
	s.sv += o.sv
	s.stt += o.stt
	s.stv += o.stv
}

func (s *sums) sub(o sums) {
	s.n -= o.n
	s.st -= o.st
	s.sv -= o.sv
	s.stt -= o.stt
	s.stv -= o.stv
}

type bucket struct {
	t0     int64 // ns since the engine's epoch of the bucket's first reading
	lastAt int64 // ns since the epoch of its last reading
	s      sums  // t in seconds since t0
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
			cur.s.add(sums{1, x, v, x * x, x * v})
			cur.lastAt = t
			xr := float64(t-w.ref) / 1e9
			w.total.add(sums{1, xr, v, xr * xr, xr * v})
			return
		}
		if w.n == len(w.b) {
			w.evict()
		}
		w.head = (w.head + 1) % len(w.b)
	} else {
		w.head, w.tail, w.ref, w.total = 0, 0, t, sums{}
	}
	w.n++
	w.b[w.head] = bucket{t0: t, lastAt: t, s: sums{n: 1, sv: v}}
	xr := float64(t-w.ref) / 1e9
	w.total.add(sums{1, xr, v, xr * xr, xr * v})
}

// evict drops the oldest live bucket from the running total.
func (w *window) evict() {
	b := &w.b[w.tail]
	w.total.sub(b.s.shifted(float64(b.t0-w.ref) / 1e9))
	w.tail = (w.tail + 1) % len(w.b)
	w.n--
}

// rebase measures the running total from ref, recomputed from the live buckets.
func (w *window) rebase(ref int64) {
	w.ref, w.total = ref, sums{}
	for i, j := 0, w.tail; i < w.n; i, j = i+1, (j+1)%len(w.b) {
		b := &w.b[j]
		w.total.add(b.s.shifted(float64(b.t0-ref) / 1e9))
	}
}

// slope returns the fitted rate in units per second over the readings no older than the window at now.
// ok is false when the window holds too few readings, or they cover less than half of it, to say.
func (w *window) slope(now int64) (rate float64, ok bool) {
	start := now - w.span
	for w.n > 0 && w.b[w.tail].t0 < start {
		w.evict()
	}
	if w.n == 0 {
		return 0, false
	}
	if now-w.ref > 4*w.span {
		w.rebase(now)
	}
	s := w.total.shifted(float64(w.ref-now) / 1e9)
	if s.n < minPoints || w.b[w.head].lastAt-w.b[w.tail].t0 < w.span/2 {
		return 0, false
	}
	den := s.n*s.stt - s.st*s.st
	if den <= 0 {
		return 0, false
	}
	return (s.n*s.stv - s.st*s.sv) / den, true
}
