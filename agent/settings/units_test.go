package settings

import (
	"strings"
	"testing"
	"time"
)

func TestByteSize(t *testing.T) {
	for s, want := range map[string]int64{"64MiB": 64 << 20, "512KiB": 512 << 10, "1GB": 1e9, "100": 100} {
		if v, err := ParseByteSize(s); err != nil || v != want {
			t.Errorf("%s: %d %v", s, v, err)
		}
	}
	for _, bad := range []string{"lots", "-1", "99999999999GiB"} {
		if _, err := ParseByteSize(bad); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestDuration(t *testing.T) {
	var d Duration
	for s, want := range map[string]time.Duration{"500ms": 500 * time.Millisecond, "30s": 30 * time.Second, "0": 0} {
		if err := d.UnmarshalText([]byte(s)); err != nil || d.D() != want {
			t.Errorf("%s: %v %v", s, d, err)
		}
	}
	for s, want := range map[string]string{"2": "has no unit", "soon": "not a duration", "-1s": "negative"} {
		if err := d.UnmarshalText([]byte(s)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", s, err, want)
		}
	}
}
