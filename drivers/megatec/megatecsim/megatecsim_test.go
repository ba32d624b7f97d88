package megatecsim

import (
	"bufio"
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/reading"
)

func TestReplies(t *testing.T) {
	src := func(ch reading.Channel, _ time.Duration) (float64, bool) {
		v, ok := map[reading.Channel]float64{
			reading.InputVoltage: 0, reading.OutputVoltage: 229.6, reading.Load: 34.4, reading.BatteryVoltage: 46.8,
			reading.BatteryTemp: 41.25, reading.OnBattery: 1, reading.LowBattery: 1, reading.Fault: 0,
		}[ch]
		return v, ok
	}
	e := New(Config{Source: src})
	for _, tc := range []struct{ cmd, want string }{
		{"Q1", "(000.0 000.0 229.6 034 50.0 46.8 41.2 11001001\r"},
		{"F", "#230.0 010 048.0 50.0\r"},
		{"I", "#RACKWATCH SIM   MEGATEC    1.0       \r"},
		{"QGS", "QGS\r"},
	} {
		if got := string(e.Reply(tc.cmd, 0)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.cmd, got, tc.want)
		}
	}
	on := New(Config{Source: src, PerCell: true})
	if got, want := string(on.Reply("Q1", 0)), "(000.0 000.0 229.6 034 50.0 1.95 41.2 11000001\r"; got != want {
		t.Errorf("on-line Q1 %q, want %q", got, want)
	}
}

// Scenario time runs Speed times faster than the clock: a lower bound only, which a slow machine can
// only exceed.
func TestSpeed(t *testing.T) {
	var seen time.Duration
	e := New(Config{Speed: 1000, Source: func(_ reading.Channel, at time.Duration) (float64, bool) {
		seen = at
		return 0, true
	}})
	time.Sleep(10 * time.Millisecond)
	e.handle("Q1")
	if seen < 10*time.Second {
		t.Errorf("scenario time %s after 10ms at speed 1000, want at least 10s", seen)
	}
}

// ServePTY answers on the path it reports, and returns nil once cancelled.
func TestServePTY(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	paths := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- ServePTY(ctx, Config{}, func(p string) { paths <- p }) }()
	var path string
	select {
	case path = <-paths:
	case err := <-done:
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("I\r")); err != nil {
		t.Fatal(err)
	}
	f.SetReadDeadline(time.Now().Add(30 * time.Second))
	got, err := bufio.NewReader(f).ReadString('\r')
	if err != nil || !strings.HasPrefix(got, "#RACKWATCH SIM") {
		t.Errorf("reply %q, %v", got, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServePTY: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("ServePTY did not return when cancelled, with a client holding the line")
	}
}
