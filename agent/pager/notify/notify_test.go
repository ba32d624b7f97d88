package notify

import (
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"30":                            30 * time.Second,
		"-4":                            0,
		"soon":                          0,
		"86400":                         10 * time.Minute,
		"Wed, 25 Nov 2026 03:00:20 GMT": 20 * time.Second,
		"Wed, 25 Nov 2026 02:00:00 GMT": 0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("Retry-After %q: %v, want %v", in, got, want)
		}
	}
}

func TestPageKey(t *testing.T) {
	if k := PageKey("gw1", "h2/room/h2", 17); k != "gw1/h2/room/h2/17" {
		t.Fatal(k)
	}
	n := Notification{Receivers: []string{"am", "pd"}}
	if !n.For("pd") || n.For("hook") {
		t.Fatal("For")
	}
}
