package driver

import (
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/reading"
)

func TestHostPort(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.30": "10.0.0.30:161", "ups.lan:1161": "ups.lan:1161", "[::1]": "[::1]:161", "::1": "[::1]:161",
	} {
		if got, err := HostPort(in, "161"); err != nil || got != want {
			t.Errorf("HostPort(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"host:0", "host:70000", "host:snmp", ":161"} {
		if _, err := HostPort(bad, "161"); err == nil {
			t.Errorf("HostPort(%q) accepted", bad)
		}
	}
}

func TestBackoff(t *testing.T) {
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for n, w := range want {
		if got := Backoff(n, time.Second, 10*time.Second); got != w {
			t.Errorf("Backoff(%d) = %v, want %v", n, got, w)
		}
	}
}

func TestChannelFormats(t *testing.T) {
	chs := append(Channels(reading.Temperature, reading.Smoke, "mystery"), Channel(reading.Temperature, 0.0625), Boolean("fire_panel"))
	for i, want := range []string{"22.5 °C", "DETECTED", "1.00001", "22.4375 °C", "ON"} {
		v := []float64{22.4625, 1, 1.000012345, 22.44, 1}[i]
		f := chs[i].Format()
		if got := f.Human(v); got != want {
			t.Errorf("%s: %v shows as %q, want %q", chs[i].Channel, v, got, want)
		}
	}
}
