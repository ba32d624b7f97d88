package fwbridge

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkEdgeToSample measures the host side's event path end to end: a digital input changes on the
// emulated board, the C core sends the frame at once, it crosses a pty, and the driver emits the sample.
// It reports the latency distribution over b.N edges, spaced 10 ms apart.
func BenchmarkEdgeToSample(b *testing.B) {
	r := newRig(b, Options{}, time.Hour) // an hour between periodic reports: only edges arrive
	r.waitLink(1)
	lat := make([]time.Duration, 0, 1024)
	v := 0
	for b.Loop() {
		// Pace the edges below the driver's flood limit (200 frames/s), which would rightly drop some.
		b.StopTimer()
		time.Sleep(10 * time.Millisecond)
		b.StartTimer()
		v ^= 1
		t0 := time.Now()
		r.emu.send(fmt.Sprintf("set 1 %d", v))
		r.sink.waitFor(b, "smoke edge", value("smoke", float64(v)))
		lat = append(lat, time.Since(t0))
	}
	reportLatency(b, lat)
}

func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
	b.ReportMetric(0, "ns/op")
}
