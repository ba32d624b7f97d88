package delivery

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/promtext"
)

func metricsOf(d *Delivery) string {
	var b strings.Builder
	d.WriteMetrics(promtext.New(&b))
	return b.String()
}

// sample returns the value of the sample line that starts with prefix, or -1.
func sample(m, prefix string) float64 {
	for _, l := range strings.Split(m, "\n") {
		if strings.HasPrefix(l, prefix) {
			v, err := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
			if err == nil {
				return v
			}
		}
	}
	return -1
}

// Per broker: connection, backlog and how long its oldest transition has waited, while it is away; and
// once it is back, the delay from each transition to its acknowledgement in the histogram.
func TestBacklogAndDeliveryDelay(t *testing.T) {
	b := startEmbedded(t)
	gate := startGate(t, b.Addr())
	url := "tcp://" + gate.addr()
	cfg := testConfig(t, t.TempDir(), "  brokers: [{url: \""+url+"\"}]")
	d, err := Open(context.Background(), cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer closeDelivery2(d)
	raised := time.Now().Add(-90 * time.Second) // transitions a minute and a half old
	trs := []contract.Alarm{transition(1, "smoke", "room", "smoke"), transition(2, "smoke", "room", "smoke"), transition(3, "hot", "ups1", "battery_temp")}
	for i := range trs {
		trs[i].Time = raised.Add(time.Duration(i) * time.Second)
	}
	if err := d.Transitions(trs); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); d.Brokers()[0].Err == ""; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) { // a failure timeout, not a measurement
			t.Fatal("the closed gate never refused the connection")
		}
	}
	m := metricsOf(d)
	lbl := `{broker="` + url + `"}`
	if v := sample(m, "rackwatch_mqtt_connected"+lbl); v != 0 {
		t.Errorf("connected = %v", v)
	}
	if v := sample(m, "rackwatch_mqtt_pending_transitions"+lbl); v != 3 {
		t.Errorf("backlog = %v, want 3", v)
	}
	if v := sample(m, "rackwatch_mqtt_oldest_pending_seconds"+lbl); v < 90 || v > 3600 {
		t.Errorf("oldest pending = %vs, want about 90", v)
	}
	bs := d.Brokers()
	if len(bs) != 1 || bs[0].Connected || bs[0].Backlog != 3 || bs[0].Oldest < 90*time.Second || bs[0].Err == "" {
		t.Errorf("broker state %+v", bs)
	}

	gate.open()
	deadline := time.Now().Add(30 * time.Second) // a failure timeout, not a measurement
	for {
		m = metricsOf(d)
		if sample(m, "rackwatch_mqtt_pending_transitions"+lbl) == 0 && sample(m, "rackwatch_mqtt_connected"+lbl) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the backlog never went out:\n%s", m)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if v := sample(m, "rackwatch_mqtt_oldest_pending_seconds"+lbl); v != 0 {
		t.Errorf("oldest pending with no backlog = %v", v)
	}
	if v := sample(m, `rackwatch_mqtt_delivery_seconds_count`+lbl); v != 3 {
		t.Errorf("delivery delay count = %v, want 3:\n%s", v, m)
	}
	// Each waited at least 88 s: none in the buckets below a minute, all in the 300 s one.
	if v := sample(m, `rackwatch_mqtt_delivery_seconds_bucket{broker="`+url+`",le="60"}`); v != 0 {
		t.Errorf("delays under a minute: %v", v)
	}
	if v := sample(m, `rackwatch_mqtt_delivery_seconds_bucket{broker="`+url+`",le="300"}`); v != 3 {
		t.Errorf("delays under five minutes: %v", v)
	}
	if bs := d.Brokers(); !bs[0].Connected || bs[0].Backlog != 0 || bs[0].Since.IsZero() {
		t.Errorf("broker state after: %+v", bs)
	}
	if j := d.Journal(); j.Err != "" || j.Segments == 0 || j.MaxBytes != int64(cfg.Journal.MaxSize) {
		t.Errorf("journal state %+v", j)
	}
}
