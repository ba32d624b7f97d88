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
