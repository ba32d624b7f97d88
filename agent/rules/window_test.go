package rules

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// feedWindow adds readings every `every` for `dur` from f and returns the rate at the end, per minute.
func feedWindow(w *window, every, dur time.Duration, f func(sec float64) float64) (float64, bool) {
	var t int64
	for ; t <= int64(dur); t += int64(every) {
		w.add(t, f(float64(t)/1e9))
	}
	r, ok := w.rate(t - int64(every))
	return r * 60, ok
}

// TestWindowRateIsRobust: a straight line gives its slope whatever the timing; a step, single wild
// samples and quantised readings of a flat signal give no rate; noise moves it little.
func TestWindowRateIsRobust(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 100; trial++ {
		span := time.Duration(30+rng.IntN(600)) * time.Second
		every := time.Duration(1+rng.IntN(int(span/time.Second)/6)) * time.Second
		k := rng.Float64()*10 - 5
		got, ok := feedWindow(newWindow(span, every), every, 3*span, func(s float64) float64 { return 20 + k*s/60 })
		if !ok || math.Abs(got-k) > 1e-6 {
			t.Fatalf("trial %d (window %s, every %s): line of %g/min gives %g (ok %v)", trial, span, every, k, got, ok)
		}
	}
	w2m := func() *window { return newWindow(2*time.Minute, 10*time.Second) }
	for name, f := range map[string]func(float64) float64{
		"step of 3 in the middle": func(s float64) float64 {
			if s >= 180 {
				return 28
			}
			return 25
		},
		"one spike": func(s float64) float64 {
			if s == 200 {
				return 60
			}
			return 25
		},
		"two spikes": func(s float64) float64 {
			if s == 180 || s == 220 {
				return 35
			}
			return 25
		},
		"0.0625 quantised noise": func(s float64) float64 { return 25 + 0.0625*float64(int(s/10)%2) },
	} {
		for end := 150.0; end <= 300; end += 10 {
			w := w2m()
			got, ok := feedWindow(w, 10*time.Second, time.Duration(end)*time.Second, f)
			if ok && math.Abs(got) > 0.5 {
				t.Errorf("%s: rate %g °C/min at %gs", name, got, end)
			}
		}
	}
	// Noise of σ 0.2 on a flat signal: the rate stays well under a 2 °C/min limit.
	for seed := uint64(0); seed < 50; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		got, ok := feedWindow(w2m(), 10*time.Second, 10*time.Minute, func(float64) float64 { return 25 + 0.2*rng.NormFloat64() })
		if !ok || math.Abs(got) > 1 {
			t.Fatalf("seed %d: noise reads as %g °C/min", seed, got)
		}
	}
	// Bounded memory: 20 readings a second through at most maxBuckets buckets.
	w := newWindow(2*time.Minute, 50*time.Millisecond)
	got, ok := feedWindow(w, 50*time.Millisecond, 5*time.Minute, func(s float64) float64 { return 3 * s / 60 })
	if len(w.b) != maxBuckets || !ok || math.Abs(got-3) > 1e-6 {
		t.Fatalf("%d buckets, rate %g", len(w.b), got)
	}
}
