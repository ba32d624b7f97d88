package main

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent"
)

// notifySocket listens where systemd would and returns a function reading the next notification, or ""
// when none is queued. Datagrams on a unix socket are queued by the time the send returns, so "nothing
// queued" needs no waiting.
func notifySocket(t *testing.T, watchdogUsec string) (next func(wait bool) string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", watchdogUsec)
	t.Setenv("WATCHDOG_PID", "")
	return func(wait bool) string {
		t.Helper()
		buf := make([]byte, 4096)
		if !wait {
			rc, err := c.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			rc.Read(func(fd uintptr) bool {
				n, _, err = syscall.Recvfrom(int(fd), buf, syscall.MSG_DONTWAIT)
				return true
			})
			if errors.Is(err, syscall.EAGAIN) {
				return ""
			}
			if err != nil {
				t.Fatal(err)
			}
			return string(buf[:n])
		}
		c.SetReadDeadline(time.Now().Add(30 * time.Second)) // a failure timeout only
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("no notification: %v", err)
		}
		return string(buf[:n])
	}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Keep-alives go out every half watchdog timeout, counted in the loop's own ticks; the status line goes
// out when it changes, not at every tick.
func TestServiceManagerPacesKeepAlives(t *testing.T) {
	next := notifySocket(t, "2000000") // WatchdogSec=2s: a keep-alive every second
	m := newServiceManager(quietLog())
	m.ready(agent.Ready{})
	if got := next(false); got != "READY=1\nSTATUS=running" {
		t.Fatalf("ready: %q", got)
	}
	t0 := time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC)
	v := agent.Vitals{Brokers: 2, Connected: 2}
	tick := func(ms int, want string) {
		t.Helper()
		v.At = t0.Add(time.Duration(ms) * time.Millisecond)
		m.alive(v)
		if got := next(false); got != want {
			t.Errorf("tick at %d ms: sent %q, want %q", ms, got, want)
		}
		if extra := next(false); extra != "" {
			t.Errorf("tick at %d ms: also sent %q", ms, extra)
		}
	}
	tick(0, "WATCHDOG=1\nSTATUS=2 of 2 brokers connected, no alarm active")
	tick(250, "")
	tick(750, "")
	tick(1000, "WATCHDOG=1")
	v.Active, v.Critical, v.Connected = 2, 1, 1
	tick(1250, "STATUS=1 of 2 brokers connected, 2 alarms active (1 critical)")
	tick(1750, "")
	tick(2100, "WATCHDOG=1")
	v.Active, v.Critical = 1, 0
	tick(2200, "STATUS=1 of 2 brokers connected, 1 alarm active")
}

// Started from a shell there is no service manager: nothing is sent and nothing fails.
func TestServiceManagerOutsideSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	m := newServiceManager(quietLog())
	m.ready(agent.Ready{})
	m.alive(agent.Vitals{At: time.Now()})
	m.stopping()
	if m.fails != 0 {
		t.Errorf("%d failures without a service manager", m.fails)
	}
}

// `rackwatch run` under a service manager: READY once the agent runs, keep-alives from its loop, the
// status line with the embedded broker connected, STOPPING at SIGTERM.
func TestRunNotifiesServiceManager(t *testing.T) {
	next := notifySocket(t, "500000") // a keep-alive at every tick of 250 ms
	dir := t.TempDir()
	cfg := filepath.Join(dir, "rackwatch.yaml")
	os.WriteFile(cfg, []byte(`
gateway: {id: gw, state_dir: `+filepath.Join(dir, "state")+`}
mqtt: {embedded_broker: "127.0.0.1:0"}
sensors:
  - {id: room, driver: sim, scenario: steady, channels: [temperature]}
rules:
  - {id: hot, match: {channel: temperature}, above: 60}
`), 0o644)
	done := make(chan int)
	go func() { done <- cmdRun([]string{"-c", cfg}) }()
	if got := next(true); got != "READY=1\nSTATUS=running" {
		t.Fatalf("first notification %q, want READY", got)
	}
	watchdogs, connected := 0, false
	for watchdogs < 3 || !connected {
		msg := next(true)
		for _, l := range strings.Split(msg, "\n") {
			switch {
			case l == "WATCHDOG=1":
				watchdogs++
			case l == "STATUS=1 of 1 brokers connected, no alarm active":
				connected = true
			case strings.HasPrefix(l, "STATUS="):
			default:
				t.Fatalf("unexpected notification %q", l)
			}
		}
	}
	// signal.NotifyContext in cmdRun catches it: the test process is not terminated.
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	for {
		if msg := next(true); strings.HasPrefix(msg, "STOPPING=1") {
			break
		}
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("run exited %d", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop after SIGTERM")
	}
}
