package promtext

import (
	"math"
	"strings"
	"testing"
)

func TestWriter(t *testing.T) {
	var sb strings.Builder
	w := New(&sb)
	w.Family("rackwatch_mqtt_connected", "1 when connected\nto the broker.", Gauge)
	w.Sample("rackwatch_mqtt_connected", 1, "broker", `tls://a"b\c`+"\n")
	w.One("rackwatch_readings_total", "Readings.", Counter, 12345678)
	w.Sample("x", math.NaN())
	want := "# HELP rackwatch_mqtt_connected 1 when connected\\nto the broker.\n# TYPE rackwatch_mqtt_connected gauge\n" +
		"rackwatch_mqtt_connected{broker=\"tls://a\\\"b\\\\c\\n\"} 1\n" +
		"# HELP rackwatch_readings_total Readings.\n# TYPE rackwatch_readings_total counter\nrackwatch_readings_total 12345678\nx NaN\n"
	if sb.String() != want {
		t.Errorf("got\n%s\nwant\n%s", sb.String(), want)
	}
}

func TestHistogram(t *testing.T) {
	h := NewBuckets(0.005, 0.05, 0.5)
	for _, v := range []float64{0.001, 0.004, 0.02, 0.3, 2} {
		h.Observe(v)
	}
	var sb strings.Builder
	w := New(&sb)
	w.Family("rackwatch_delivery_seconds", "Delay.", Histogram)
	w.Histogram("rackwatch_delivery_seconds", h, "broker", "tcp://a")
	want := "# HELP rackwatch_delivery_seconds Delay.\n# TYPE rackwatch_delivery_seconds histogram\n" +
		`rackwatch_delivery_seconds_bucket{broker="tcp://a",le="0.005"} 2` + "\n" +
		`rackwatch_delivery_seconds_bucket{broker="tcp://a",le="0.05"} 3` + "\n" +
		`rackwatch_delivery_seconds_bucket{broker="tcp://a",le="0.5"} 4` + "\n" +
		`rackwatch_delivery_seconds_bucket{broker="tcp://a",le="+Inf"} 5` + "\n" +
		`rackwatch_delivery_seconds_sum{broker="tcp://a"} 2.325` + "\n" +
		`rackwatch_delivery_seconds_count{broker="tcp://a"} 5` + "\n"
	if sb.String() != want {
		t.Errorf("got\n%s\nwant\n%s", sb.String(), want)
	}
	if n := testing.AllocsPerRun(100, func() { h.Observe(0.01) }); n != 0 {
		t.Errorf("Observe allocates %v times", n)
	}
}
