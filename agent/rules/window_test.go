package rules

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestWindowIsExactLeastSquares checks the bucketed sums against a plain least-squares fit over the very
// readings the window keeps, for irregular timing and noisy values.
func TestWindowIsExactLeastSquares(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 200; trial++ {
		span := time.Duration(5+rng.IntN(600)) * time.Second
		every := time.Duration(rng.IntN(20)) * time.Second
		w := newWindow(span, every)
		type pt struct {
			t int64
			v float64
		}
		var pts []pt
		now := int64(rng.IntN(1e6)) * int64(time.Millisecond)
		for i := 0; i < 10+rng.IntN(500); i++ {
			now += int64(rng.ExpFloat64() * float64(span) / 40)
			v := 20 + 0.01*float64(now)/1e9 + rng.NormFloat64()
			w.add(now, v)
			pts = append(pts, pt{now, v})
		}
		got, ok := w.slope(now)
		// The readings kept: those in buckets starting within the window.
		var kept []pt
		start := now - int64(span)
		for i := 0; i < w.n; i++ {
			b := w.b[(w.head-i+len(w.b))%len(w.b)]
			if b.t0 < start {
				break
			}
			for _, p := range pts {
				if p.t >= b.t0 && p.t <= b.lastAt {
					kept = append(kept, p)
				}
			}
		}
		var n, st, sv, stt, stv float64
		lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
		for _, p := range kept {
			lo, hi = min(lo, p.t), max(hi, p.t)
			x := float64(p.t-now) / 1e9
			n++
			st += x
			sv += p.v
			stt += x * x
			stv += x * p.v
		}
		enough := len(kept) >= minPoints && hi-lo >= int64(span)/2
		if ok != enough {
			t.Fatalf("trial %d: ok=%v with %d readings kept", trial, ok, len(kept))
		}
		if !ok {
			continue
		}
		want := (n*stv - st*sv) / (n*stt - st*st)
		if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
			t.Fatalf("trial %d: slope %g, least squares over the same readings %g", trial, got, want)
		}
		// And nothing older than the window plus one bucket is used.
		// Bounded memory loses nothing inside the window: only the bucket straddling its start is left out.
		inside := 0
		for _, p := range pts {
			if p.t >= start+w.width {
				inside++
			}
		}
		if len(kept) < inside {
			t.Fatalf("trial %d: %d readings kept, %d lie well inside the window", trial, len(kept), inside)
		}
	}
}
