// Package promtext writes the Prometheus text exposition format (version 0.0.4): one HELP and TYPE line per
// family, then its samples with escaped label values. Every /metrics writer in the agent uses it, so the
// families look alike and a label value (a broker URL, a sensor's error) can never break the format.
package promtext

import (
	"io"
	"math"
	"strconv"
	"sync/atomic"
)

// Metric types.
const (
	Counter   = "counter"
	Gauge     = "gauge"
	Histogram = "histogram"
)

// Writer writes families and samples to an io.Writer. It is not safe for concurrent use; write errors are
// left to the underlying writer (an HTTP response whose client went away).
type Writer struct {
	w   io.Writer
	buf []byte
}

// New returns a Writer on w.
func New(w io.Writer) *Writer { return &Writer{w: w} }

// Family starts a family: its HELP and TYPE lines.
func (p *Writer) Family(name, help, typ string) {
	b := append(p.buf[:0], "# HELP "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = appendHelp(b, help)
	b = append(b, "\n# TYPE "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = append(b, typ...)
	b = append(b, '\n')
	p.flush(b)
}

// Sample writes one sample of name; labels are name, value pairs.
func (p *Writer) Sample(name string, v float64, labels ...string) {
	b := append(p.buf[:0], name...)
	if len(labels) >= 2 {
		b = append(b, '{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, labels[i]...)
			b = append(b, `="`...)
			b = appendLabel(b, labels[i+1])
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	b = append(b, ' ')
	b = appendValue(b, v)
	b = append(b, '\n')
	p.flush(b)
}

// One writes a family with a single unlabelled sample.
func (p *Writer) One(name, help, typ string, v float64) {
	p.Family(name, help, typ)
	p.Sample(name, v)
}

func (p *Writer) flush(b []byte) {
	p.w.Write(b)
	p.buf = b[:0]
}

func appendValue(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
		return strconv.AppendInt(b, int64(v), 10) // counters stay readable: 12345678, not 1.2345678e+07
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// appendLabel escapes a label value: backslash, double quote and line feed.
func appendLabel(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, `\\`...)
		case '"':
			b = append(b, `\"`...)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendHelp escapes a HELP text: backslash and line feed.
func appendHelp(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, `\\`...)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// Buckets counts observations into fixed buckets, for a family of type Histogram. Observe is safe for
// concurrent use and never allocates.
type Buckets struct {
	bounds  []float64       // upper bounds, ascending; +Inf is implied
	counts  []atomic.Uint64 // per bucket, not cumulative; the last is above every bound
	sumBits atomic.Uint64
}

// NewBuckets returns Buckets with these upper bounds (ascending).
func NewBuckets(bounds ...float64) *Buckets {
	return &Buckets{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

// Observe counts one observation.
func (h *Buckets) Observe(v float64) {
	i := 0
	for i < len(h.bounds) && v > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	for {
		old := h.sumBits.Load()
		if h.sumBits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// Histogram writes h as the samples of histogram family name: name_bucket{…,le="…"} (cumulative),
// name_sum and name_count; labels are name, value pairs.
func (p *Writer) Histogram(name string, h *Buckets, labels ...string) {
	ls := make([]string, len(labels), len(labels)+2)
	copy(ls, labels)
	var cum uint64
	for i := range h.counts {
		cum += h.counts[i].Load()
		le := "+Inf"
		if i < len(h.bounds) {
			le = strconv.FormatFloat(h.bounds[i], 'g', -1, 64)
		}
		p.Sample(name+"_bucket", float64(cum), append(ls, "le", le)...)
	}
	p.Sample(name+"_sum", math.Float64frombits(h.sumBits.Load()), labels...)
	p.Sample(name+"_count", float64(cum), labels...)
}
